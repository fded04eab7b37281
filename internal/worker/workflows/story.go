package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// The Temporal UI's story of a delivery workflow: its current details (a
// table of its deliveries, workflow.SetCurrentDetails), and a summary on
// each local activity ("POST #3 to ERP prod") and each timer ("retry #4 of
// ERP prod in 30s after HTTP 503"). Summaries are user metadata: the SDK
// leaves them out of the commands it matches on replay, so adding or
// changing them never breaks a recorded history. They are in the history,
// so they hold webhook names and answers' status codes, never URLs,
// headers or payloads.

// maxStoryRows bounds the table: the delivery log in PostgreSQL has them all.
const maxStoryRows = 50

// story is the workflow's current details, kept up to date as its
// deliveries move.
type story struct {
	ctx   workflow.Context
	head  string
	rows  []storyRow
	index map[string]int // delivery id → row
}

// storyRow is one delivery in the table.
type storyRow struct {
	name     string
	state    string
	attempts int
	last     string // the last answer: "HTTP 503", "connection refused"
	next     string // when the next try is due
}

// newStory starts the story of the deliveries refs of an event of type
// eventType (test: a test send) and shows it.
func newStory(ctx workflow.Context, what string, refs []flow.DeliveryRef) *story {
	s := &story{ctx: ctx, head: what, index: make(map[string]int, len(refs))}
	for i, d := range refs {
		s.index[d.DeliveryID] = i
		row := storyRow{name: webhookLabel(d), state: "pending"}
		if d.Done {
			row.state, row.attempts = string(d.Status), d.Attempts
		}
		s.rows = append(s.rows, row)
	}
	s.show()
	return s
}

// update changes a delivery's row and shows the table again.
func (s *story) update(deliveryID string, edit func(*storyRow)) {
	if s == nil {
		return
	}
	if i, ok := s.index[deliveryID]; ok {
		edit(&s.rows[i])
		s.show()
	}
}

// sending marks an attempt in flight.
func (s *story) sending(d flow.DeliveryRef, attempt int) {
	s.update(d.DeliveryID, func(r *storyRow) { r.state, r.next = fmt.Sprintf("sending #%d", attempt), "" })
}

// answered records an attempt's result; next is the wait before the next
// try (0: none).
func (s *story) answered(d flow.DeliveryRef, attempt int, res flow.AttemptResult, next time.Duration) {
	s.update(d.DeliveryID, func(r *storyRow) {
		now := workflow.Now(s.ctx)
		r.next = ""
		switch res.Outcome {
		case delivery.OutcomeThrottled:
			r.state = "throttled"
			r.next = fmt.Sprintf("#%d at %s", attempt, clock(now.Add(next)))
			return
		case delivery.OutcomeSucceeded:
			r.state = string(delivery.Succeeded)
		case delivery.OutcomeRetry:
			r.state = "retrying"
			r.next = fmt.Sprintf("#%d at %s", attempt+1, clock(now.Add(next)))
		default:
			r.state = string(res.Outcome)
		}
		if res.Outcome != delivery.OutcomeCancelled {
			r.attempts = attempt
		}
		r.last = answer(res)
	})
}

// waitingTurn marks an ordered delivery waiting for an earlier one.
func (s *story) waitingTurn(d flow.DeliveryRef, recheck time.Duration) {
	s.update(d.DeliveryID, func(r *storyRow) {
		r.state, r.next = "waiting its turn", "recheck at "+clock(workflow.Now(s.ctx).Add(recheck))
	})
}

// ended records a delivery's final status.
func (s *story) ended(deliveryID string, status delivery.Status, attempts int, reason string) {
	s.update(deliveryID, func(r *storyRow) {
		r.state, r.attempts, r.next = string(status), attempts, ""
		if reason != "" && r.last == "" {
			r.last = oneLine(reason, 60)
		}
	})
}

// show sets the workflow's current details: a head line with the counts
// by state, then the table.
func (s *story) show() {
	counts := map[string]int{}
	var order []string
	for _, r := range s.rows {
		state := r.state
		if strings.HasPrefix(state, "sending") {
			state = "sending"
		}
		if counts[state] == 0 {
			order = append(order, state)
		}
		counts[state]++
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s**: %d webhook%s", s.head, len(s.rows), plural(len(s.rows))))
	for _, state := range order {
		b.WriteString(fmt.Sprintf(" · %d %s", counts[state], state))
	}
	b.WriteString("\n\n| webhook | state | attempts | last answer | next try |\n|---|---|---|---|---|\n")
	for _, r := range s.rows[:min(len(s.rows), maxStoryRows)] {
		b.WriteString(fmt.Sprintf("| %s | %s | %d | %s | %s |\n", r.name, r.state, r.attempts, dash(r.last), dash(r.next)))
	}
	if n := len(s.rows) - maxStoryRows; n > 0 {
		b.WriteString(fmt.Sprintf("\n… and %d more: the delivery log (GET /v1/events/{id}) has them all.\n", n))
	}
	workflow.SetCurrentDetails(s.ctx, b.String())
}

// webhookLabel is how summaries name a delivery's webhook: its name, made
// safe for one line of Temporal markdown, or its id's start.
func webhookLabel(d flow.DeliveryRef) string {
	if name := oneLine(d.WebhookName, 60); name != "" {
		return name
	}
	return "webhook " + d.WebhookID[:min(len(d.WebhookID), 8)]
}

// answer says what an attempt got back, briefly.
func answer(res flow.AttemptResult) string {
	switch {
	case res.StatusCode != 0:
		return fmt.Sprintf("HTTP %d", res.StatusCode)
	case res.Error != "":
		return oneLine(res.Error, 60)
	}
	return oneLine(res.Reason, 60)
}

// oneLine is flow.SummaryText.
func oneLine(s string, n int) string { return flow.SummaryText(s, n) }

// wait is a duration as people write it: 30s, 1m, 2h, 1m30s, 200ms.
func wait(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") + " UTC" }

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// withSummaryOpts is o with its summary set to s.
func withSummaryOpts(o workflow.LocalActivityOptions, s string) workflow.LocalActivityOptions {
	o.Summary = s
	return o
}

// attemptSummary names an attempt: "POST #3 to ERP prod".
func attemptSummary(d flow.DeliveryRef, attempt int, test bool) string {
	s := fmt.Sprintf("POST #%d to %s", attempt, webhookLabel(d))
	if test {
		s += " (test)"
	}
	return s
}

// withSummary is ctx with its local activity options' summary set to s.
func withSummary(ctx workflow.Context, s string) workflow.Context {
	o := workflow.GetLocalActivityOptions(ctx)
	o.Summary = s
	return workflow.WithLocalActivityOptions(ctx, o)
}

// sleep is workflow.Sleep with the timer's summary.
func sleep(ctx workflow.Context, d time.Duration, summary string) error {
	return workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: summary}).Get(ctx, nil)
}
