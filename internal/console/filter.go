package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// filterForm is the form's payload filter (a CEL expression) and its test
// box: a sample event the admin can try the filter on before saving
// ("would this sample match?"). The test is the same form sent with
// action=test-filter: the page comes back with the verdict, nothing
// saved; console.js sends it in the background instead, so what was typed
// (secrets included) stays in the page.
type filterForm struct {
	Filter       string
	FilterSample string
	// Tested: the form comes back from a test (its box stays open);
	// Verdict is the test's answer, nil when there is none.
	Tested  bool
	Verdict *service.FilterVerdict
}

func (f *filterForm) readFilter(r *http.Request) {
	f.Filter, f.FilterSample = r.PostFormValue("filter"), r.PostFormValue("filterSample")
}

// sampleFor is the catalogue's sample of the first of types
// (ENVELOPE_START when there is none), to start the test box with: the
// data a real event of the type carries, valid against its schema.
func sampleFor(types []string) string {
	typ := events.EnvelopeStart
	if len(types) > 0 {
		typ = types[0]
	}
	e, _ := events.Sample(typ)
	b, _ := json.MarshalIndent(map[string]any{"type": e.Type, "triggerSource": e.TriggerSource, "data": e.Data}, "", "  ")
	return string(b)
}

// testingFilter reports whether the form was sent to test its filter.
func testingFilter(r *http.Request) bool { return r.PostFormValue("action") == "test-filter" }

// testFilter answers the form with the verdict of its filter on its
// sample, or the field errors of either.
func (c *Console) testFilter(w http.ResponseWriter, r *http.Request, s *session, f *form) {
	f.Tested = true
	var ev events.Event
	dec := json.NewDecoder(bytes.NewReader([]byte(f.FilterSample)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		f.Fields = map[string]string{"filterSample": fmt.Sprintf("%s: %v", (&page{c: c, Lang: language(r)}).T("filter.badSample"), err)}
		c.render(w, r, s, http.StatusUnprocessableEntity, "form", &page{Data: f})
		return
	}
	v, err := c.svc.TestFilter(r.Context(), s.caller, service.FilterTest{Filter: f.Filter, Event: ev})
	var e *service.Error
	if errors.As(err, &e) && e.Fields["event.data"] != "" {
		e.Fields = map[string]string{"filterSample": "data " + e.Fields["event.data"]}
	}
	if err != nil {
		c.formFailed(w, r, s, f, err)
		return
	}
	f.Verdict = &v
	c.render(w, r, s, http.StatusOK, "form", &page{Data: f})
}
