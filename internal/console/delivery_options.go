package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// optionsForm is the delivery options part of the add/edit form: the
// attempt timeout, the retry schedule (the default, a preset or custom
// waits) and the payload form, as entered.
type optionsForm struct {
	TimeoutSeconds string // "": the global timeout
	Schedule       string // "": the global schedule; a preset's name; scheduleCustom
	Waits          string // the custom waits, comma-separated
	Payload        string
	TraceContext   bool // send each attempt's traceparent (docs/tracing.md)
	Presets        []string
	Payloads       []string
}

// scheduleCustom is the schedule select's choice of the custom waits.
const scheduleCustom = "custom"

func newOptionsForm() optionsForm {
	return optionsForm{Payload: db.PayloadFull, Presets: schedule.PresetNames(),
		Payloads: []string{db.PayloadFull, db.PayloadThin}}
}

func (o *optionsForm) read(r *http.Request) {
	o.TimeoutSeconds = strings.TrimSpace(r.PostFormValue("timeoutSeconds"))
	o.Schedule, o.Waits = r.PostFormValue("retrySchedule"), r.PostFormValue("retryWaits")
	o.Payload = r.PostFormValue("payload")
	o.TraceContext = r.PostFormValue("traceContext") != ""
}

// fill shows a webhook's options in the form.
func (o *optionsForm) fill(wh webhook) {
	if wh.TimeoutSeconds != nil {
		o.TimeoutSeconds = strconv.Itoa(*wh.TimeoutSeconds)
	}
	switch s := wh.RetrySchedule; {
	case s == nil:
	case s.Preset != "":
		o.Schedule = s.Preset
	default:
		o.Schedule, o.Waits = scheduleCustom, strings.Join(s.Waits, ", ")
	}
	o.Payload = wh.Payload
	o.TraceContext = wh.TraceContext
}

// timeout is the entered timeout: nil when empty. A value that is not a
// whole number is sent as 0, which the service refuses with its message
// beside the field.
func (o *optionsForm) timeout() *int {
	if o.TimeoutSeconds == "" {
		return nil
	}
	n, err := strconv.Atoi(o.TimeoutSeconds)
	if err != nil {
		n = 0
	}
	return &n
}

// schedule is the chosen schedule: nil for the default; an unknown
// choice goes to the service as a preset, which names the valid ones.
func (o *optionsForm) schedule() *schedule.Spec {
	switch o.Schedule {
	case "":
		return nil
	case scheduleCustom:
		waits := []string{}
		for _, w := range strings.FieldsFunc(o.Waits, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			if w = strings.TrimSpace(w); w != "" {
				waits = append(waits, w)
			}
		}
		return &schedule.Spec{Waits: waits}
	}
	return &schedule.Spec{Preset: o.Schedule}
}

// setInput puts the options in a new webhook.
func (o *optionsForm) setInput(in *service.WebhookInput) {
	in.TimeoutSeconds, in.RetrySchedule, in.Payload = o.timeout(), o.schedule(), o.Payload
	in.TraceContext = o.TraceContext
}

// setPatch puts the options in an edit: the form shows them all, so it
// sets them all (null timing returns to the default).
func (o *optionsForm) setPatch(p *service.WebhookPatch) {
	p.TimeoutSeconds = service.Nullable[int]{Set: true, Value: o.timeout()}
	p.RetrySchedule = service.Nullable[schedule.Spec]{Set: true, Value: o.schedule()}
	traceContext := o.TraceContext
	p.TraceContext = &traceContext
	if o.Payload != "" { // a form without the select keeps the payload
		payload := o.Payload
		p.Payload = &payload
	}
}

// Waits is a preset's waits, or with "" the global schedule's, as the
// form and the details page list them.
func (p *page) Waits(preset string) string {
	waits := p.c.cfg.Retries
	if preset != "" {
		waits, _ = schedule.Preset(preset)
	}
	return strings.Join(schedule.FormatAll(waits), ", ")
}

// GlobalTimeout is DELIVERY_TIMEOUT, as the form and details page show it.
func (p *page) GlobalTimeout() string { return schedule.Format(p.c.cfg.DeliveryTimeout) }
