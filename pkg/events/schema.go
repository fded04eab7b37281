package events

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
)

// SchemaVersion is the version of t's data schema that events of type t
// are checked against now (0: t has none).
func SchemaVersion(t string) int {
	if s, ok := schemas.Get(t); ok {
		return s.Version
	}
	return 0
}

// sampleTime is the occurredAt of every sample: fixed, so samples are
// the same in every answer and every document.
var sampleTime = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// Sample is an event of type t carrying its schema's sample data, as a
// publisher would send it (an operational type's as webhookd sends it).
func Sample(t string) (Event, bool) {
	s, ok := schemas.Get(t)
	if !ok {
		return Event{}, false
	}
	e := Event{ID: "sample-" + strings.ToLower(strings.ReplaceAll(t, "_", "-")), Type: t, TriggerSource: SourceSaaSPage,
		OccurredAt: sampleTime, Data: slices.Clone(s.Sample)}
	switch {
	case IsSystemType(t):
		e.TriggerSource = SourceSystem
	case IsType(t):
		// The envelope is the ordering key of its events.
		e.OrderingKey = sampleEnvelope(s.Sample)
	}
	return e, true
}

// schemaProblems checks data against t's schema (data is a JSON object
// within bounds); a type without a schema is not checked.
func schemaProblems(t string, data []byte) problems {
	s, ok := schemas.Get(t)
	if !ok {
		return nil
	}
	vs, err := s.Validate(data)
	if err != nil {
		return problems{{Field: "data", Pointer: "/data", Message: "must be a JSON object"}}
	}
	ps := make(problems, 0, len(vs))
	for _, v := range vs {
		ps = append(ps, Problem{Field: fieldOf(v.Path), Pointer: "/data" + v.Pointer(), Message: v.Message})
	}
	return ps
}

// fieldOf names a place in the data as FieldErrors do: data.signerList[0].userEmail.
func fieldOf(path []string) string {
	var b strings.Builder
	b.WriteString("data")
	for _, tok := range path {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
		} else {
			b.WriteString("." + tok)
		}
	}
	return b.String()
}

// sampleEnvelope is the envelopeId of sample data.
func sampleEnvelope(data []byte) string {
	var d struct {
		EnvelopeID string `json:"envelopeId"`
	}
	_ = json.Unmarshal(data, &d)
	return d.EnvelopeID
}
