package flow

import "testing"

// The id rules are part of every stored delivery and every running
// workflow: changing one would deliver existing events twice.
func TestWorkflowIDRules(t *testing.T) {
	if got := EventWorkflowID("a", "e"); got != "event/a/e" {
		t.Fatalf("event id rule changed: %s", got)
	}
	if got := ResendWorkflowID("d", 2); got != "resend/d/2" || !IsResendWorkflowID(got) || IsResendWorkflowID("event/a/e") {
		t.Fatalf("resend id rule changed: %s", got)
	}
	if got := BatchWorkflowID("event/a/e", 3); got != "event/a/e/batch-3" {
		t.Fatalf("batch id rule changed: %s", got)
	}
}
