package chaos

import (
	"encoding/json"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The fault suite's publishers go through the API, which holds data to its
// type's schema: a refused publish would be counted as never accepted.
func TestEventDataValidates(t *testing.T) {
	for _, data := range []map[string]any{eventData("env_000001", "seq", 1), eventData("k0001", "n", 3), receiversEventData(7)} {
		raw, _ := json.Marshal(data)
		e := events.Event{Type: EventType, TriggerSource: TriggerSource, Data: raw}
		if err := e.Validate(0); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
