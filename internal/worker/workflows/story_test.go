package workflows

import (
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// details is the workflow's current details, as the Temporal UI asks
// for them (the SDK's built-in metadata query).
func (h *harness) details(t *testing.T) string {
	t.Helper()
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	return md.GetCurrentDetails()
}

// The current details tell a delivery's story as it runs: a table row per
// webhook, by its name, with state, attempts, last answer and next try.
func TestStoryInCurrentDetails(t *testing.T) {
	p := plan("w1", "w2")
	p.Deliveries[0].WebhookName = "ERP prod"
	p.Deliveries[1].WebhookName = "CRM | sync\n*bold*"
	h := newHarness(t, p)
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		if in.WebhookID == "w1" && in.Attempt == 1 {
			return retry(30*time.Second, 503)
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	var during string
	h.env.RegisterDelayedCallback(func() { during = h.details(t) }, 10*time.Second)
	h.run(t)
	for _, want := range []string{
		"**ENVELOPE_START**: 2 webhooks · 1 retrying · 1 succeeded",
		"| ERP prod | retrying | 1 | HTTP 503 | #2 at ",
		"| CRM sync bold | succeeded | 1 | HTTP 200 | — |",
	} {
		if !strings.Contains(during, want) {
			t.Errorf("details while waiting lack %q:\n%s", want, during)
		}
	}
	after := h.details(t)
	for _, want := range []string{"2 succeeded", "| ERP prod | succeeded | 2 | HTTP 200 | — |"} {
		if !strings.Contains(after, want) {
			t.Errorf("details at the end lack %q:\n%s", want, after)
		}
	}
}

func TestStoryText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", time.Minute: "1m", 2 * time.Hour: "2h", 90 * time.Second: "1m30s",
		200 * time.Millisecond: "200ms", 1500 * time.Millisecond: "2s",
	} {
		if got := wait(d); got != want {
			t.Errorf("wait(%v) = %q, want %q", d, got, want)
		}
	}
	d := flow.DeliveryRef{WebhookID: "0123456789abcdef"}
	if got := attemptSummary(d, 3, false); got != "POST #3 to webhook 01234567" {
		t.Errorf("unnamed: %q", got)
	}
	d.WebhookName = "ERP prod"
	if got := attemptSummary(d, 1, true); got != "POST #1 to ERP prod (test)" {
		t.Errorf("named test: %q", got)
	}
	if got := answer(flow.AttemptResult{Error: "dial tcp: connection refused"}); got != "dial tcp: connection refused" {
		t.Errorf("answer without status: %q", got)
	}
}
