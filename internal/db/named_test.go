package db

import (
	"slices"
	"testing"
)

func TestNamed(t *testing.T) {
	n := named(`SELECT @b::int, @a, @b = @c::text, '@'`)
	if want := `SELECT $1::int, $2, $1 = $3::text, '@'`; n.text != want {
		t.Errorf("text = %q, want %q", n.text, want)
	}
	args, err := n.args(map[string]any{"a": 1, "b": 2, "c": 3})
	if err != nil || !slices.Equal(args, []any{2, 1, 3}) {
		t.Errorf("args = %v, %v", args, err)
	}
	if _, err := n.args(map[string]any{"a": 1, "b": 2}); err == nil {
		t.Error("a missing value is not an error")
	}
	if _, err := n.args(map[string]any{"a": 1, "b": 2, "d": 3}); err == nil {
		t.Error("a misnamed value is not an error")
	}
}
