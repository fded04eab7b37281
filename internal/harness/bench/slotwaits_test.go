package bench

import (
	"reflect"
	"testing"
)

func TestSlotWaitsSince(t *testing.T) {
	before := map[string]int{"handed": 5, "queued": 1, "no_room": 0}
	for _, tc := range []struct {
		name  string
		after map[string]int
		want  map[string]int
	}{
		{"some", map[string]int{"handed": 12, "queued": 4, "no_room": 0}, map[string]int{"handed": 7, "queued": 3, "no_room": 0}},
		{"none", map[string]int{"handed": 5, "queued": 1, "no_room": 0}, nil},
		{"restarted", map[string]int{"handed": 2, "queued": 0, "no_room": 0}, nil},
	} {
		if got := slotWaitsSince(before, tc.after); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
