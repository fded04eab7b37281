package db

import (
	"fmt"
	"testing"
)

// A replay list in created_at order keeps its places, but each key's
// deliveries within them follow the key's sequence.
func TestInKeyOrder(t *testing.T) {
	ds := []Delivery{
		keyed("a", 2), {}, keyed("b", 1),
		keyed("a", 1), keyed("a", 3), keyed("b", 2),
	}
	inKeyOrder(ds)
	var got string
	for _, d := range ds {
		got += fmt.Sprintf("%s%d ", d.OrderingKey, d.Sequence)
	}
	if want := "a1 0 b1 a2 a3 b2 "; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func keyed(key string, seq int64) Delivery {
	return Delivery{Turn: Turn{OrderingKey: key, Sequence: seq}}
}
