package flow

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// StartSummary is the static summary and details a DeliverEvent workflow
// is started with (StartWorkflowOptions.StaticSummary and StaticDetails):
// what the Temporal UI shows at the top of its page and in the list of
// workflows. One line: the event type, its envelope and ordering key when
// it has them, and where its data is. The details say it at length, and
// why the data of an event published over HTTP is absent from the history.
// How many webhooks it goes to is known only once it runs: the workflow's
// current details say it.
func StartSummary(in DeliverEventInput, envelopeID string) (summary, details string) {
	e := in.Event
	parts := []string{SummaryText(e.Type, 60)}
	if in.Test {
		parts[0] += " (test)"
	}
	if envelopeID != "" {
		parts = append(parts, "envelope "+SummaryText(envelopeID, 60))
	}
	if e.OrderingKey != "" && e.OrderingKey != envelopeID {
		parts = append(parts, "key "+SummaryText(e.OrderingKey, 60))
	}
	if e.TriggerSource != "" {
		parts = append(parts, "from "+SummaryText(e.TriggerSource, 40))
	}
	data := "data in this input"
	if in.Stored {
		data = "data kept in PostgreSQL, not in this history"
	}
	summary = strings.Join(append(parts, data), " · ")

	var b strings.Builder
	fmt.Fprintf(&b, "**Event** %s: **%s**", SummaryText(e.ID, 200), SummaryText(e.Type, 60))
	if e.TriggerSource != "" {
		fmt.Fprintf(&b, " from %s", SummaryText(e.TriggerSource, 40))
	}
	if !e.OccurredAt.IsZero() {
		fmt.Fprintf(&b, ", occurred %s", e.OccurredAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	b.WriteString("\n\n")
	if envelopeID != "" || e.OrderingKey != "" {
		fmt.Fprintf(&b, "**Envelope** %s · **ordering key** %s\n\n", orDash(SummaryText(envelopeID, 200)), orDash(SummaryText(e.OrderingKey, 200)))
	}
	switch {
	case in.Stored:
		b.WriteString("**Why the data is null**: published over HTTP (POST /v1/events), the event is kept in " +
			"PostgreSQL, the API's outbox, and RecordEvent reads it there: signers' details stay out of Temporal. " +
			"GET /v1/events/{id} and the console show it in full.\n\n")
	case in.Test:
		b.WriteString("**A test send** to one webhook: the data is in this input.\n\n")
	default:
		b.WriteString("**Published through Temporal** (pkg/publish, or another SDK): the data is in this input.\n\n")
	}
	b.WriteString("**Webhooks** are matched when it runs: Current Details has a row for each.")
	return summary, b.String()
}

// EnvelopeID is the envelopeId member of an event's data, or "".
func EnvelopeID(data []byte) string {
	var d struct {
		EnvelopeID string `json:"envelopeId"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return ""
	}
	return d.EnvelopeID
}

// SummaryText keeps s to one line of at most n runes without the
// characters Temporal markdown uses for emphasis, code, links, HTML and
// tables: what summaries may quote of names and ids chosen by customers.
func SummaryText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case strings.ContainsRune("|*`[]<>", r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
