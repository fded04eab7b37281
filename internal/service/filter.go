package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/filter"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// A webhook's payload filter (issue 20): a CEL expression over the event,
// checked and compiled here when the webhook is saved, so a filter that
// does not compile, is not a bool or may cost too much is a field error of
// `filter` naming where and why; "" (or only spaces) is no filter. Like
// the event types, it decides what the receiver gets, so changing it
// needs the webhook disabled.

// filterErrors are the field errors of a filter (nil: not set).
func filterErrors(src *string) map[string]string {
	if src == nil || strings.TrimSpace(*src) == "" {
		return nil
	}
	if _, err := filter.Compile(*src); err != nil {
		return map[string]string{"filter": filterMessage(err)}
	}
	return nil
}

// filterMessage is what a client is told of a filter that cannot be
// saved: each problem with its line and column.
func filterMessage(err error) string {
	var ferr *filter.Error
	if errors.As(err, &ferr) {
		return ferr.Error()
	}
	return "cannot be compiled: " + err.Error()
}

// storedFilter is a valid filter as stored: "" for none.
func storedFilter(src string) string {
	if strings.TrimSpace(src) == "" {
		return ""
	}
	return src
}

// applyFilter applies the edit's filter to f: null or "" removes it.
func (p WebhookPatch) applyFilter(f *db.WebhookFields) {
	if !p.Filter.Set {
		return
	}
	f.Filter = ""
	if p.Filter.Value != nil {
		f.Filter = storedFilter(*p.Filter.Value)
	}
}

// FilterTest is POST /v1/webhooks/filter-test and the console's test box:
// would this filter pass this event? The event is a sample as a publisher
// sends it (data an object; occurredAt now when left out).
type FilterTest struct {
	Filter string       `json:"filter"`
	Event  events.Event `json:"event"`
}

// FilterVerdict is what a filter made of a sample event. Error is the
// evaluation error (the worker then does not deliver: an error is no
// match); Cost the filter's cost at most, for the largest event, against
// CostLimit.
type FilterVerdict struct {
	Matches   bool
	Error     string
	Cost      uint64
	CostLimit uint64
}

// TestFilter evaluates t.Filter on t.Event as the worker would; a filter
// that cannot be saved is an Invalid error of `filter`, like on save.
func (s *Service) TestFilter(_ context.Context, c Caller, t FilterTest) (FilterVerdict, error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return FilterVerdict{}, err
	}
	if strings.TrimSpace(t.Filter) == "" {
		return FilterVerdict{}, invalid("filter", "is required: a CEL expression such as event.data.envelopeId.startsWith(\"A\")")
	}
	f, err := filter.Compile(t.Filter)
	if err != nil {
		return FilterVerdict{}, invalid("filter", filterMessage(err))
	}
	ev := t.Event
	if len(ev.Data) == 0 || string(ev.Data) == "null" {
		ev.Data = json.RawMessage(`{}`)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = s.now()
	}
	in, err := filter.NewInput(ev)
	if err != nil {
		return FilterVerdict{}, invalid("event.data", "must be a JSON object")
	}
	out := FilterVerdict{Cost: f.Cost, CostLimit: filter.MaxCost}
	if out.Matches, err = f.Match(in); err != nil {
		out.Error = err.Error() // the caller's own sample: nothing to withhold
	}
	return out, nil
}
