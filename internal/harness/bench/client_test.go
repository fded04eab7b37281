package bench

import (
	"testing"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The benchmarks publish through the API, which holds data to its type's
// schema: their payloads must pass it, or every publish is a 422.
func TestEventDataValidates(t *testing.T) {
	for _, typ := range []string{eventType, stormEventType} {
		e := events.Event{Type: typ, TriggerSource: triggerSource, Data: eventData(42)}
		if err := e.Validate(0); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if n := len(eventData(0)); n < 900 || n > 1300 {
		t.Errorf("eventData is %d bytes, want about 1 KB (the benchmarks' published size)", n)
	}
}
