package api

import "testing"

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
		if path, dup := duplicateKey([]byte(tc.body)); !dup || path != tc.path {
			t.Errorf("%s: got %q %v, want %q", tc.body, path, dup, tc.path)
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
		if path, dup := duplicateKey([]byte(body)); dup {
			t.Errorf("%s: reported duplicate %q", body, path)
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
