package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// jsonLimits bound the work one JSON body can cause, whatever its shape:
// the body size is bounded by bodyLimit, and these bound what a small body
// can still make the server do (a 200 KB body of nested arrays once took
// the process to 9.8 GB). Each is checked in one linear pass before the
// body is decoded.
type jsonLimits struct {
	Depth   int // objects and arrays nested, the top-level object being 1
	Members int // members of one object, or elements of one array
	String  int // bytes of one string, member names included
	Number  int // bytes of one number as written
}

var (
	// managementBody is every management route: webhooks, keys, resends.
	managementBody = jsonLimits{Depth: 8, Members: 1_000, String: 64 << 10, Number: 64}
	// eventBody is POST /v1/events: data may nest 32 levels below the
	// top-level object and hold lists of up to 10,000 items.
	eventBody = jsonLimits{Depth: 33, Members: 10_000, String: 256 << 10, Number: 64}
	// filterTestBody is POST /v1/webhooks/filter-test: an event as
	// published, one level down ({"filter", "event"}).
	filterTestBody = jsonLimits{Depth: 34, Members: 10_000, String: 256 << 10, Number: 64}
)

// readJSONBody reads the request body of a route that takes JSON: 415 when
// the Content-Type is not JSON (or is missing while there is a body), 413
// over the size limit, 400 duplicate_key when an object repeats a member
// name, 400 json_limit_exceeded past one of lim.
func readJSONBody(c echo.Context, lim jsonLimits) ([]byte, error) {
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
	if p := scanJSON(raw, lim); p != nil {
		return nil, p.apiError()
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

// bodyProblem is what scanJSON found wrong, at path (dotted, [] for an
// array element).
type bodyProblem struct {
	duplicate bool
	path      string
	what      string // the limit passed, for json_limit_exceeded
}

func (p *bodyProblem) apiError() *Error {
	if p.duplicate {
		return apiError(http.StatusBadRequest, CodeDuplicateKey,
			"The body repeats the member "+p.path+" in one object; send each once.")
	}
	field := p.path
	if field == "" {
		field = "(body)"
	}
	e := apiError(http.StatusBadRequest, CodeJSONLimit, "The body is beyond what this route accepts: "+field+" "+p.what+".")
	e.Fields = map[string]string{field: p.what}
	return e
}

// frame is one open object or array of the scan.
type frame struct {
	object  bool
	wantKey bool   // an object expecting a member name next
	key     string // the object's current member name
	count   int    // members or elements so far
	keys    map[string]struct{}
}

// scanner is the state of one scanJSON pass. The stack never grows past
// lim.Depth, and paths are built only to report a problem, so the work is
// linear in the body whatever its shape.
type scanner struct {
	lim   jsonLimits
	stack []*frame
}

// scanJSON checks raw against lim and for repeated member names, at any
// depth (event data included: receivers' parsers disagree on which copy
// wins; encoding/json keeps the last, so {"role":"member","role":"admin"}
// once made an admin key). Top-level names are compared case-insensitively,
// as encoding/json matches them to struct fields; nested ones (event data)
// exactly. Malformed JSON reports nothing: the decoder then says what is
// wrong.
func scanJSON(raw []byte, lim jsonLimits) *bodyProblem {
	s := &scanner{lim: lim}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		p, done := s.token(tok)
		if p != nil || done {
			return p
		}
	}
}

// token takes one token; done is true once the top-level value is complete.
func (s *scanner) token(tok json.Token) (p *bodyProblem, done bool) {
	if n := len(s.stack); n > 0 && s.stack[n-1].wantKey {
		if key, ok := tok.(string); ok {
			return s.memberName(key), false
		}
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '}' || v == ']' {
			s.stack = s.stack[:len(s.stack)-1]
			return nil, s.valueDone()
		}
		if p := s.count(); p != nil {
			return p, false
		}
		if len(s.stack) >= s.lim.Depth {
			return s.problem(fmt.Sprintf("nests objects and arrays deeper than %d levels", s.lim.Depth)), false
		}
		f := &frame{object: v == '{', wantKey: v == '{'}
		if f.object {
			f.keys = map[string]struct{}{}
		}
		s.stack = append(s.stack, f)
		return nil, false
	case string:
		if len(v) > s.lim.String {
			return s.problem(fmt.Sprintf("is a string longer than %d bytes", s.lim.String)), false
		}
	case json.Number:
		if len(v) > s.lim.Number {
			return s.problem(fmt.Sprintf("is a number longer than %d characters", s.lim.Number)), false
		}
	}
	if p := s.count(); p != nil {
		return p, false
	}
	return nil, s.valueDone()
}

// memberName takes the name of the next member of the innermost object.
func (s *scanner) memberName(key string) *bodyProblem {
	top := s.stack[len(s.stack)-1]
	if len(key) > s.lim.String {
		return s.problem(fmt.Sprintf("has a member name longer than %d bytes", s.lim.String))
	}
	norm := key
	if len(s.stack) == 1 {
		// ToUpper then ToLower folds like encoding/json does for these
		// names (e.g. U+017F ſ to s, U+212A K to k).
		norm = strings.ToLower(strings.ToUpper(key))
	}
	top.key, top.wantKey = key, false
	if _, dup := top.keys[norm]; dup {
		p := s.problem("")
		p.duplicate = true
		return p
	}
	top.keys[norm] = struct{}{}
	return nil
}

// count counts a value into its container, up to lim.Members.
func (s *scanner) count() *bodyProblem {
	n := len(s.stack)
	if n == 0 {
		return nil
	}
	top := s.stack[n-1]
	top.count++
	if top.count <= s.lim.Members {
		return nil
	}
	what := "elements"
	if top.object {
		what = "members"
	}
	// Name the container by its parent's path.
	s.stack = s.stack[:n-1]
	return s.problem(fmt.Sprintf("has more than %d %s", s.lim.Members, what))
}

// valueDone marks a value complete; true when it was the top-level one.
func (s *scanner) valueDone() bool {
	if len(s.stack) == 0 {
		return true
	}
	top := s.stack[len(s.stack)-1]
	top.wantKey = top.object
	return false
}

// maxPathName bounds each member name in a reported path: the answer
// names the place, it need not echo a 64 KiB name.
const maxPathName = 64

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// problem reports what at the path of the value being read.
func (s *scanner) problem(what string) *bodyProblem {
	var b strings.Builder
	for _, f := range s.stack {
		switch {
		case !f.object:
			b.WriteString("[]")
		case f.key != "":
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(truncate(f.key, maxPathName))
		}
	}
	return &bodyProblem{path: b.String(), what: what}
}
