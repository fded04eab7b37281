package db

import (
	"fmt"
	"regexp"
	"strconv"
)

// namedSQL is a statement whose inputs are named (@name) rather than
// numbered, so a fragment several statements share (healthUpdate,
// insertSystemEvent) cannot refer to the wrong argument when one is added
// or moved. Each distinct name is one placeholder, $n in order of first
// use. Compiled once: the text, and so its prepared statement, is stable.
type namedSQL struct {
	text  string
	names []string
}

var namedInput = regexp.MustCompile(`@[a-z_]+`)

func named(q string) namedSQL {
	var n namedSQL
	index := map[string]int{}
	n.text = namedInput.ReplaceAllStringFunc(q, func(m string) string {
		i, ok := index[m[1:]]
		if !ok {
			n.names = append(n.names, m[1:])
			i = len(n.names)
			index[m[1:]] = i
		}
		return "$" + strconv.Itoa(i)
	})
	return n
}

// args puts values in placeholder order. An input without a value, or a
// value no input takes, is an error: a mistake in the statement.
func (n namedSQL) args(values map[string]any) ([]any, error) {
	if len(values) != len(n.names) {
		return nil, fmt.Errorf("statement takes %d inputs, given %d values", len(n.names), len(values))
	}
	out := make([]any, len(n.names))
	for i, name := range n.names {
		v, ok := values[name]
		if !ok {
			return nil, fmt.Errorf("statement input @%s has no value", name)
		}
		out[i] = v
	}
	return out, nil
}
