package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// readJSONBody reads the request body of a route that takes JSON: 415 when
// the Content-Type is not JSON (or is missing while there is a body), 413
// over the limit, 400 duplicate_key when an object repeats a member name.
func readJSONBody(c echo.Context) ([]byte, error) {
	raw, err := io.ReadAll(c.Request().Body)
	if errors.As(err, new(*http.MaxBytesError)) {
		return nil, apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "The request body is too large.")
	}
	if err != nil {
		return nil, apiError(http.StatusBadRequest, CodeInvalidRequest, "The request body could not be read.")
	}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" && len(bytes.TrimSpace(raw)) == 0 {
		return raw, nil
	}
	if !isJSONMediaType(ct) {
		return nil, apiError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"Send the body as JSON with 'Content-Type: application/json'.")
	}
	if path, dup := duplicateKey(raw); dup {
		return nil, apiError(http.StatusBadRequest, CodeDuplicateKey,
			"The body repeats the member "+path+" in one object; send each once.")
	}
	return raw, nil
}

// isJSONMediaType accepts application/json and application/*+json, in UTF-8.
func isJSONMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// duplicateKey reports the first member name repeated within one object, at
// any depth (event data included: receivers' parsers disagree on which
// copy wins), as a dotted path. encoding/json keeps the last copy, so
// {"role":"member","role":"admin"} made an admin key. Top-level names are
// compared case-insensitively, as encoding/json matches them to struct
// fields; nested ones (event data) exactly. Malformed JSON reports no
// duplicate: the decoder then says what is wrong.
func duplicateKey(raw []byte) (string, bool) {
	type frame struct {
		object  bool
		wantKey bool
		path    string
		lastKey string
		keys    map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	childPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if !top.object {
			return top.path + "[]"
		}
		if top.path == "" {
			return top.lastKey
		}
		return top.path + "." + top.lastKey
	}
	valueDone := func() bool {
		if len(stack) == 0 {
			return true // the top-level value is complete
		}
		stack[len(stack)-1].wantKey = true
		return false
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			if key, ok := tok.(string); ok {
				norm := key
				if n == 1 {
					// ToUpper then ToLower folds like encoding/json does
					// for these names (e.g. U+017F ſ to s, U+212A K to k).
					norm = strings.ToLower(strings.ToUpper(key))
				}
				if top.keys[norm] {
					if top.path != "" {
						key = top.path + "." + key
					}
					return key, true
				}
				top.keys[norm], top.lastKey, top.wantKey = true, key, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, path: childPath(), keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{path: childPath()})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if valueDone() {
				return "", false
			}
		default:
			if valueDone() {
				return "", false
			}
		}
	}
}
