package api

import (
	"runtime"
	"strings"
	"testing"
)

func TestDuplicateKey(t *testing.T) {
	for _, tc := range []struct {
		body, path string
	}{
		{`{"role":"member","role":"admin"}`, "role"},
		{`{"role":"member","\u0072ole":"admin"}`, "role"},
		{`{"role":"member","Role":"admin"}`, "Role"},
		{`{"data":{"a":1,"b":{"c":1,"c":2}}}`, "data.b.c"},
		{`{"data":{"list":[{"x":1},{"x":1,"x":2}]}}`, "data.list[].x"},
		{`{"a":[1,2],"b":{},"a":3}`, "a"},
	} {
		if p := scanJSON([]byte(tc.body), eventBody); p == nil || !p.duplicate || p.path != tc.path {
			t.Errorf("%s: got %+v, want duplicate %q", tc.body, p, tc.path)
		}
	}
	for _, body := range []string{
		`{"role":"member","label":"x"}`,
		`{"data":{"a":1,"A":2}}`, // event data keys are case-sensitive
		`{"a":{"x":1},"b":{"x":1}}`,
		`{"a":[{"x":1},{"x":2}]}`,
		`{"a":1}{"a":1,"a":2}`, // trailing data is the decoder's to refuse
		`{"a":`, `[]`, ``,
	} {
		if p := scanJSON([]byte(body), eventBody); p != nil {
			t.Errorf("%s: reported %+v", body, p)
		}
	}
}

func TestIsJSONMediaType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON": true,
		"application/merge-patch+json": true, "application/json; charset=latin1": false,
		"text/plain": false, "application/x-www-form-urlencoded": false, "multipart/form-data; boundary=x": false,
		"": false, "json": false, "text/json": false,
	} {
		if got := isJSONMediaType(ct); got != want {
			t.Errorf("%q: %v, want %v", ct, got, want)
		}
	}
}

func TestScanJSONLimits(t *testing.T) {
	lim := jsonLimits{Depth: 3, Members: 3, String: 5, Number: 4}
	for _, tc := range []struct {
		body, path, what string
	}{
		{`{"a":{"b":{"c":{}}}}`, "a.b.c", "nests objects and arrays deeper than 3 levels"},
		{`{"a":[[[1]]]}`, "a[][]", "nests objects and arrays deeper than 3 levels"},
		{`[[[[` + strings.Repeat("[", 100_000), "[][][]", "nests objects and arrays deeper than 3 levels"},
		{`{"a":1,"b":2,"c":3,"d":4}`, "", "has more than 3 members"},
		{`{"a":{"l":[1,2,3,4]}}`, "a.l", "has more than 3 elements"},
		{`{"a":"123456"}`, "a", "is a string longer than 5 bytes"},
		{`{"abcdef":1}`, "", "has a member name longer than 5 bytes"},
		{`{"a":[12345]}`, "a[]", "is a number longer than 4 characters"},
	} {
		p := scanJSON([]byte(tc.body), lim)
		if p == nil || p.duplicate || p.path != tc.path || p.what != tc.what {
			t.Errorf("%.40s: got %+v, want %q %q", tc.body, p, tc.path, tc.what)
		}
	}
	for _, body := range []string{
		`{"a":{"b":{}}}`, `{"a":[1,2,3],"b":"12345","c":1234}`, `{"a":[[1]]}`,
	} {
		if p := scanJSON([]byte(body), lim); p != nil {
			t.Errorf("%s: reported %+v", body, p)
		}
	}
}

// TestScanJSONLinear: 100,000 nested arrays in a 200 KB body once grew
// the process by gigabytes (a path string built per level). The scan now
// allocates a small multiple of the body at most, whatever its shape.
func TestScanJSONLinear(t *testing.T) {
	bodies := map[string][]byte{
		"nested arrays":  []byte(strings.Repeat("[", 200_000)),
		"nested objects": []byte(strings.Repeat(`{"a":`, 40_000)),
		"wide object":    []byte(`{` + strings.Repeat(`"k":1,`, 30_000) + `"z":1}`),
		"long string":    []byte(`{"a":"` + strings.Repeat("x", 200_000) + `"}`),
	}
	for name, body := range bodies {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		scanJSON(body, eventBody)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*uint64(len(body))+64<<10 {
			t.Errorf("%s: %d bytes allocated for a %d-byte body", name, alloc, len(body))
		}
	}
}

// FuzzScanJSON: whatever the body, the scan ends, allocates in proportion
// to it and agrees with encoding/json on what it accepts: a body it passes
// within generous limits decodes, or is malformed to both.
func FuzzScanJSON(f *testing.F) {
	for _, seed := range []string{
		`{"role":"member","role":"admin"}`, `{"data":{"a":[{"x":1},{"x":1,"x":2}]}}`,
		strings.Repeat("[", 1000), strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
		`{"a":"\u0000\ud800"}`, `{"a":1e999999}`, `{"a":` + strings.Repeat("9", 200) + `}`, `[]`, ``, `{`, `}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := scanJSON(body, managementBody)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(body))+256<<10 {
			t.Fatalf("%d bytes allocated for a %d-byte body", alloc, len(body))
		}
		if p != nil && !p.duplicate && p.what == "" {
			t.Fatalf("a problem without a description: %+v", p)
		}
		if p != nil && len(p.path) > 8*len(body)+16 {
			t.Fatalf("a path longer than the body: %d bytes", len(p.path))
		}
	})
}
