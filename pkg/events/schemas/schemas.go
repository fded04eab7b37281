// Package schemas holds the JSON Schema (draft 2020-12) of each event
// type's data, with a sample, and checks data against them. The schemas
// are part of the public contract: one file per type, <TYPE>.v<N>.json,
// whose first "examples" entry is the type's sample data. N, the schema's
// version, goes up with every change of the file.
//
// Unknown members are allowed at every level (receivers' contracts grow);
// required members, types, enumerations and formats are enforced.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// Schema is the schema of one event type's data.
type Schema struct {
	Type    string // the event type
	Version int    // from the file name; recorded on every event checked
	ID      string // its $id, urn:esign-webhooks:event:<TYPE>:v<N>
	// Doc is the document as published; Sample is its first example.
	Doc    json.RawMessage
	Sample json.RawMessage

	compiled *jsonschema.Schema
}

var fileName = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)\.v([1-9][0-9]*)\.json$`)

// set is every schema by type, compiled once, on first use.
var set = sync.OnceValues(load)

// Load compiles every schema (once): a server calls it at startup, so a
// broken document stops it there rather than at its first event.
func Load() error {
	_, err := set()
	return err
}

// Get returns the schema of an event type.
func Get(eventType string) (*Schema, bool) {
	s, ok := mustSet()[eventType]
	return s, ok
}

// All returns every schema, by type name.
func All() []*Schema {
	m := mustSet()
	out := make([]*Schema, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Schema) int {
		if a.Type < b.Type {
			return -1
		}
		return 1
	})
	return out
}

// mustSet is set for callers that cannot fail: the documents are
// embedded and their tests compile them, so an error is a broken build,
// like a regexp.MustCompile of a bad pattern.
func mustSet() map[string]*Schema {
	m, err := set()
	if err != nil {
		panic(err)
	}
	return m
}

func load() (map[string]*Schema, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats (email, date-time, uuid, uri) are assertions, not only
	// annotations: a publisher's data is held to them.
	c.AssertFormat()
	out := map[string]*Schema{}
	for _, name := range names {
		s, err := compile(c, name)
		if err != nil {
			return nil, fmt.Errorf("event schema %s: %w", name, err)
		}
		if _, dup := out[s.Type]; dup {
			return nil, fmt.Errorf("event schema %s: a second version of %s", name, s.Type)
		}
		out[s.Type] = s
	}
	return out, nil
}

func compile(c *jsonschema.Compiler, name string) (*Schema, error) {
	m := fileName.FindStringSubmatch(path.Base(name))
	if m == nil {
		return nil, fmt.Errorf("the file name is not <TYPE>.v<N>.json")
	}
	raw, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	version, _ := strconv.Atoi(m[2])
	s := &Schema{Type: m[1], Version: version, Doc: raw}
	var head struct {
		ID       string            `json:"$id"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	s.ID = head.ID
	if want := fmt.Sprintf("urn:esign-webhooks:event:%s:v%d", s.Type, s.Version); s.ID != want {
		return nil, fmt.Errorf("$id is %q, want %q", s.ID, want)
	}
	if len(head.Examples) == 0 {
		return nil, fmt.Errorf("no examples: the first one is the type's sample")
	}
	s.Sample = head.Examples[0]
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(s.ID, doc); err != nil {
		return nil, err
	}
	if s.compiled, err = c.Compile(s.ID); err != nil {
		return nil, err
	}
	if v, err := s.Validate(s.Sample); err != nil || len(v) > 0 {
		return nil, fmt.Errorf("its sample does not validate: %v %v", err, v)
	}
	return s, nil
}
