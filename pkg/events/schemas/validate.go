package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxViolations bounds the violations reported of one document: data of
// thousands of bad items gets a readable answer, not a huge one.
const MaxViolations = 20

// Violation is one way data breaks its schema.
type Violation struct {
	// Path is where, as the member names and array indexes from the data's
	// root (empty: the data itself).
	Path    []string
	Message string
}

// Pointer is the violation's place as a JSON pointer (RFC 6901) into the
// data: "/signerInfo/userEmail".
func (v Violation) Pointer() string {
	var b strings.Builder
	for _, tok := range v.Path {
		b.WriteByte('/')
		b.WriteString(pointerEscape.Replace(tok))
	}
	return b.String()
}

var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")

func (v Violation) String() string { return v.Pointer() + ": " + v.Message }

// Validate checks data (JSON text) against s. It returns the violations,
// at most MaxViolations, ordered by place; an error only when data is not
// a single JSON value.
func (s *Schema) Validate(data []byte) ([]Violation, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading data: %w", err)
	}
	err = s.compiled.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	var out []Violation
	collect(ve, &out)
	slices.SortStableFunc(out, func(a, b Violation) int { return slices.Compare(a.Path, b.Path) })
	out = slices.CompactFunc(out, func(a, b Violation) bool {
		return a.Message == b.Message && slices.Equal(a.Path, b.Path)
	})
	if len(out) > MaxViolations {
		out = out[:MaxViolations]
	}
	return out, nil
}

// collect appends the leaves of e's tree: the failed keywords themselves,
// not the subschemas ($ref, properties) that lead to them.
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	if r, ok := e.ErrorKind.(*kind.Required); ok {
		// Named at the missing member, where the caller has to add it.
		for _, m := range r.Missing {
			*out = append(*out, Violation{Path: append(slices.Clone(e.InstanceLocation), m), Message: "is required"})
		}
		return
	}
	*out = append(*out, Violation{Path: slices.Clone(e.InstanceLocation), Message: describe(e.ErrorKind)})
}

var english = message.NewPrinter(language.English)

// describe says what a failed keyword means, in the API's words.
func describe(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", article(strings.Join(k.Want, " or ")), article(k.Got))
	case *kind.Enum, *kind.Const:
		// "value must be one of 1, 2, 3"
		return strings.TrimPrefix(k.LocalizedString(english), "value ")
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters", k.Want)
	case *kind.Minimum:
		return "must be at least " + k.Want.RatString()
	case *kind.Maximum:
		return "must be at most " + k.Want.RatString()
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.Pattern:
		return "must match the pattern " + k.Want
	}
	return k.LocalizedString(english)
}

// article puts "a" or "an" before a JSON type name.
func article(t string) string {
	if t != "" && strings.ContainsRune("aeiou", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}
