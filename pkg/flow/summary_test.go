package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func TestStartSummary(t *testing.T) {
	e := events.Event{ID: "env-42-start", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage,
		OccurredAt: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), OrderingKey: "env-42",
		Data: []byte(`{"envelopeId":"env-42","envelopeStatus":1}`)}
	env := EnvelopeID(e.Data)
	if env != "env-42" || EnvelopeID(nil) != "" || EnvelopeID([]byte(`[1]`)) != "" {
		t.Fatalf("EnvelopeID: %q", env)
	}
	stored := e
	stored.Data = nil
	sum, det := StartSummary(DeliverEventInput{AccountID: "a", Event: stored, Stored: true}, env)
	if want := "ENVELOPE_START · envelope env-42 · from saas_page · data kept in PostgreSQL, not in this history"; sum != want {
		t.Errorf("stored summary %q, want %q", sum, want)
	}
	for _, want := range []string{"**Event** env-42-start: **ENVELOPE_START** from saas_page, occurred 2026-12-06 10:00:00 UTC",
		"**Why the data is null**", "POST /v1/events", "Current Details"} {
		if !strings.Contains(det, want) {
			t.Errorf("stored details lack %q:\n%s", want, det)
		}
	}
	other := e
	other.OrderingKey = "k|*`1"
	sum, det = StartSummary(DeliverEventInput{AccountID: "a", Event: other}, env)
	if want := "ENVELOPE_START · envelope env-42 · key k1 · from saas_page · data in this input"; sum != want {
		t.Errorf("published summary %q, want %q", sum, want)
	}
	if !strings.Contains(det, "**Published through Temporal**") || strings.Contains(det, "null") {
		t.Errorf("published details:\n%s", det)
	}
	if got := SummaryText("a\nb\t| `c` "+strings.Repeat("x", 100), 10); got != "a b c xxx…" {
		t.Errorf("SummaryText: %q", got)
	}
}
