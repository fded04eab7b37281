package apikey

import (
	"bytes"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if a == b {
		t.Fatal("two keys are equal")
	}
	if !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+43 {
		t.Fatalf("unexpected key shape %q", a)
	}
	if bytes.Equal(Hash(a), Hash(b)) || !bytes.Equal(Hash(a), Hash(a)) {
		t.Fatal("hash is not a function of the key")
	}
	if got := DisplayPrefix(a); got != a[:10] {
		t.Fatalf("DisplayPrefix = %q", got)
	}
}
