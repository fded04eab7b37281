package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func input(t testing.TB, data string) *Input {
	t.Helper()
	in, err := NewInput(events.Event{ID: "env-42-start", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage,
		OccurredAt: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), OrderingKey: "env-42", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("NewInput(%s): %v", data, err)
	}
	return in
}

const sample = `{"envelopeId": "A-42", "envelopeStatus": 1, "signerIds": ["s-1", "s-2"], "amount": 12.5,
	"whole": 3.0, "big": 1e2, "sender": {"email": "a@example.com"}, "active": true, "none": null}`

func TestMatch(t *testing.T) {
	in := input(t, sample)
	for src, want := range map[string]bool{
		`event.data.envelopeId.startsWith("A")`:                                true,
		`event.data.envelopeId.startsWith("B")`:                                false,
		`event.type == "ENVELOPE_START" && event.triggerSource == "saas_page"`: true,
		`event.type in ["ENVELOPE_FINISH", "ENVELOPE_CANCEL"]`:                 false,
		`event.id == "env-42-start" && event.orderingKey == "env-42"`:          true,
		`event.appId == ""`:                                                       true,
		`!has(event.appId) && has(event.orderingKey)`:                             true,
		`event.occurredAt.getHours() == 9`:                                        true, // in UTC
		`event.occurredAt > timestamp("2026-01-01T00:00:00Z")`:                    true,
		`event.data.envelopeStatus == 1 && event.data.envelopeStatus + 1 == 2`:    true,
		`event.data.amount > 12 && event.data.amount < 12.6`:                      true,
		`event.data.whole + 1 == 4 && event.data.big == 100`:                      true, // whole numbers are ints
		`"s-2" in event.data.signerIds`:                                           true,
		`event.data.signerIds.exists(s, s.endsWith("-3"))`:                        false,
		`size(event.data.signerIds) == 2`:                                         true,
		`event.data.sender.email.endsWith("@example.com")`:                        true,
		`has(event.data.missing) && event.data.missing == 1`:                      false,
		`!has(event.data.missing) || event.data.missing == 1`:                     true,
		`event.data.active`:                                                       true,
		`event.data.none == null`:                                                 true,
		`event.data.envelopeId.matches("^A-[0-9]+$")`:                             true,
		"event.type == \"ENVELOPE_START\"\n  && event.data.envelopeId != \"A-1\"": true,
	} {
		f, err := Compile(src)
		if err != nil {
			t.Errorf("Compile(%s): %v", src, err)
			continue
		}
		got, err := f.Match(in)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", src, got, err, want)
		}
	}
}

// TestCompileErrors: each filter that cannot be saved says where and why.
func TestCompileErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`event.tpye == "ENVELOPE_START"`, "line 1, column 6: undefined field 'tpye'"},
		{`evnt.type == "x"`, "line 1, column 1: undeclared reference to 'evnt'"},
		{"event.type == \"x\" &&\n  event.data.x ==", "line 2, column 18: Syntax error"},
		{`event.type == 1`, "line 1, column 12: found no matching overload for '_==_' applied to '(string, int)'"},
		{`event.data.envelopeId.startsWith(1)`, "line 1, column 33: found no matching overload for 'startsWith'"},
		{`event.type`, "must be true or false (a bool), not a string"},
		{`size(event.data)`, "must be true or false (a bool), not a int"},
		{`event == event`, "line 1, column 1: event is only read field by field"},
		{`[event].size() > 0`, "line 1, column 2: event is only read field by field"},
		{`webhooks.Event{type: "x"}.type == "x"`, "event is only read field by field"},
		{`event.data.x.matches("(")`, "error parsing regexp: missing closing )"},
		{`"é" == "e" && evnt.type == "x"`, "line 1, column 15: undeclared reference to 'evnt'"}, // columns count characters
		{"", "is empty"},
		{"  \n ", "is empty"},
		{strings.Repeat("true && ", 300) + "true", "must be at most 2048 bytes"},
		{"event.type == \"\xff\"", "must be UTF-8 text"},
		{strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40), "recursion limit exceeded"},
	} {
		f, err := Compile(c.src)
		var ferr *Error
		if f != nil || !errors.As(err, &ferr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, %v; want an *Error with %q", c.src, f, err, c.want)
		}
	}
}

// TestCost: a filter is refused when its estimate for the largest event
// the API accepts passes MaxCost, so a loop over a loop of the data is,
// and the usual filters are far below.
func TestCost(t *testing.T) {
	for src, max := range map[string]uint64{
		`event.data.envelopeId.startsWith("A")`:                 10,
		`event.type == "ENVELOPE_START" && event.data.x == 1`:   10,
		`"s-1" in event.data.signerIds`:                         MaxItems + 10,
		`event.data.signerIds.exists(s, s == "s-1")`:            MaxCost,
		`event.data.name.contains("Contract")`:                  MaxCost,
		`event.data.items.all(i, has(i.id) && i.id.size() < 9)`: MaxCost,
	} {
		f, err := Compile(src)
		if err != nil {
			t.Errorf("Compile(%s): %v", src, err)
		} else if f.Cost == 0 || f.Cost > max {
			t.Errorf("%s: cost %d, want 1..%d", src, f.Cost, max)
		}
	}
	for _, src := range []string{
		`event.data.items.exists(a, event.data.items.exists(b, a == b))`,
		`event.data.items.map(i, i.name).exists(n, n.contains(event.data.name))`,
		`event.data.title.matches(event.data.pattern)`,
	} {
		_, err := Compile(src)
		if err == nil || !strings.Contains(err.Error(), "is too expensive") || !strings.Contains(err.Error(), "limit of 100000") {
			t.Errorf("Compile(%s) = %v, want too expensive", src, err)
		}
	}
}

// TestEvaluationErrors: what cannot be decided is an error, with false.
func TestEvaluationErrors(t *testing.T) {
	in := input(t, sample)
	for src, want := range map[string]string{
		`event.data.missing == 1`:           "no such key: missing",
		`event.data.envelopeId + 1 == 2`:    "no such overload",
		`event.data.sender.email.x == 1`:    "no such key",
		`event.data.signerIds[5] == "s-1"`:  "index out of bounds",
		`event.data.envelopeId`:             "it gave a string, not true or false",
		`int(event.data.envelopeId) == 1`:   "type conversion error",
		`event.data.envelopeStatus / 0 > 1`: "division by zero",
	} {
		f, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		got, err := f.Match(in)
		if got || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, %v; want false and %q", src, got, err, want)
		}
	}
}

// TestLargerEvent: an event beyond the API's bounds (published straight
// to Temporal) is estimated again for its size, so the limit holds.
func TestLargerEvent(t *testing.T) {
	items := make([]string, 3*MaxItems)
	for i := range items {
		items[i] = fmt.Sprintf("%q", fmt.Sprint("s-", i))
	}
	in := input(t, `{"signerIds": [`+strings.Join(items, ",")+`], "envelopeId": "A-1"}`)
	loop, err := Compile(`event.data.signerIds.exists(s, s == "s-29999")`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := loop.Match(in); ok || err == nil || !strings.Contains(err.Error(), "too large for this filter") {
		t.Errorf("a loop over 30,000 items: %v, %v; want the cost limit", ok, err)
	}
	cheap, err := Compile(`event.data.envelopeId == "A-1"`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cheap.Match(in); !ok || err != nil {
		t.Errorf("a cheap filter on the same event: %v, %v", ok, err)
	}
}

func TestDecodeData(t *testing.T) {
	m, err := DecodeData(json.RawMessage(`{"i": 7, "f": 7.5, "w": 7.0, "e": 7e3, "n": -0, "huge": 1e400, "big": 9223372036854775808,
		"l": [1, 2.5], "o": {"x": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"i": "int64 7", "f": "float64 7.5", "w": "int64 7", "e": "int64 7000", "n": "int64 0",
		"big": "float64 9.223372036854776e+18"} {
		if got := fmt.Sprintf("%T %v", m[k], m[k]); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
	if l := m["l"].([]any); fmt.Sprintf("%T %T", l[0], l[1]) != "int64 float64" {
		t.Errorf("list: %T %T", l[0], l[1])
	}
	if _, err := DecodeData(json.RawMessage(`[1]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("a list as data: %v", err)
	}
}

// TestLogReason: what is logged of an evaluation error never quotes the
// event's data.
func TestLogReason(t *testing.T) {
	in := input(t, `{"secret": "s3cr3t-value", "m": {}}`)
	for src, want := range map[string]string{
		`event.data.envelopeId == "x"`:                 "no such key: envelopeId",
		`event.data.m[event.data.secret] == 1`:         "no such key (a key taken from the event's data)",
		`timestamp(event.data.secret) < timestamp(0)`:  "invalid RFC 3339 timestamp (details withheld",
		`int(event.data.secret) == 1`:                  "type conversion error from 'string' to 'int'",
		`event.data.secret`:                            "it gave a string, not true or false",
		`duration(event.data.secret) > duration("1s")`: "type conversion error",
	} {
		f, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", src, err)
		}
		_, err = f.Match(in)
		got := LogReason(err, src)
		if !strings.HasPrefix(got, want) || strings.Contains(got, "s3cr3t") {
			t.Errorf("%s: %q (from %v), want %q and no data", src, got, err, want)
		}
	}
}

func TestCache(t *testing.T) {
	c := NewCache(2)
	a, err := c.Get(`event.type == "A"`)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Get(`event.type == "A"`); again != a {
		t.Error("the same text compiled twice")
	}
	if _, err := c.Get(`event.tpye == "A"`); err == nil {
		t.Error("a bad filter from the cache: no error")
	}
	if _, err := c.Get(`event.tpye == "A"`); err == nil || c.Len() != 2 {
		t.Errorf("a bad filter again: %v, %d cached", err, c.Len())
	}
	if _, err := c.Get(`event.type == "B"`); err != nil || c.Len() != 1 {
		t.Errorf("past its size the cache starts again: %v, %d cached", err, c.Len())
	}
}

// BenchmarkMatch is the cost of one filter evaluated on one event for one
// webhook (the event's data decoded once, outside the loop, as the worker
// does for all the webhooks of an event), and of the largest loops a
// filter may make.
func BenchmarkMatch(b *testing.B) {
	small := `{"envelopeId": "A-42", "envelopeStatus": 1, "signerIds": ["s-1", "s-2", "s-3"], "title": "Contract 2026-11"}`
	signers := make([]string, MaxItems)
	for i := range signers {
		signers[i] = fmt.Sprintf("%q", fmt.Sprint("s-", i))
	}
	large := `{"signerIds": [` + strings.Join(signers, ",") + `], "title": "` + strings.Repeat("x", MaxString-100) + `"}`
	for _, c := range []struct{ name, src, data string }{
		{"startsWith", `event.data.envelopeId.startsWith("A")`, small},
		{"typeAndSource", `event.type == "ENVELOPE_START" && event.triggerSource == "saas_page"`, small},
		{"typical", `event.type in ["ENVELOPE_START", "ENVELOPE_FINISH"] && has(event.data.envelopeId) && event.data.envelopeId.startsWith("A") && event.data.envelopeStatus >= 1`, small},
		{"in3", `"s-2" in event.data.signerIds`, small},
		{"exists10000", `event.data.signerIds.exists(s, s == "none")`, large},
		{"in10000", `"none" in event.data.signerIds`, large},
		{"contains256KiB", `event.data.title.contains("Contract")`, large},
		{"matches256KiB", `event.data.title.matches("Contract \\d")`, large},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := Compile(c.src)
			if err != nil {
				b.Fatal(err)
			}
			in := input(b, c.data)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Match(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.Cost), "max-cost")
		})
	}
}

// BenchmarkNewInput is the once-per-event part: decoding the data.
func BenchmarkNewInput(b *testing.B) {
	e := events.Event{ID: "e", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage,
		Data: json.RawMessage(`{"envelopeId": "A-42", "envelopeStatus": 1, "signerIds": ["s-1", "s-2", "s-3"], "title": "Contract 2026-11"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewInput(e); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCompile: any text is compiled or refused with an *Error, never a
// panic; what compiles is within the limits and evaluates without one.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{`event.data.envelopeId.startsWith("A")`, `event.type == "ENVELOPE_START" &&`,
		`event.tpye == 1`, `"x" in event.data.l`, `event.data.l.exists(a, event.data.l.exists(b, a == b))`,
		`event.data.s.matches("(")`, `event == event`, `webhooks.Event{}.type == ""`, `[1,2,3].map(x, x * 2)[0] == 2`,
		`has(event.data.x.y) || size(event.data) > 2`, "\xff", strings.Repeat("!", 100) + "true", `1/0 == 1`,
		`event.occurredAt + duration("1h") > timestamp("2026-01-01T00:00:00Z")`, `event.data.n * 9223372036854775807 > 1`} {
		f.Add(seed)
	}
	in := input(f, sample)
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := Compile(src)
		var ferr *Error
		if err != nil {
			if !errors.As(err, &ferr) || len(ferr.Problems) == 0 {
				t.Fatalf("Compile(%q): %v, want an *Error", src, err)
			}
			return
		}
		if len(src) > MaxBytes || flt.Cost > MaxCost {
			t.Fatalf("Compile(%q) passed: %d bytes, cost %d", src, len(src), flt.Cost)
		}
		_, _ = flt.Match(in)
	})
}

// TestDocumentedExamples: the examples of docs/delivery.md ("Payload
// filters") compile, within the cost limit.
func TestDocumentedExamples(t *testing.T) {
	raw, err := os.ReadFile("../../docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "## Payload filters")
	_, block, ok2 := strings.Cut(block, "```text\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no examples in docs/delivery.md")
	}
	for _, src := range strings.Split(strings.TrimSpace(block), "\n") {
		if _, err := Compile(src); err != nil {
			t.Errorf("documented filter %s: %v", src, err)
		}
	}
}
