package schemas_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
)

func TestEveryTypeHasASchema(t *testing.T) {
	if err := schemas.Load(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range slices.Concat(events.Catalogue, events.SystemCatalogue) {
		want = append(want, c.Name)
	}
	want = append(want, events.WebhookTest)
	slices.Sort(want)
	var got []string
	for _, s := range schemas.All() {
		got = append(got, s.Type)
		if s.Version < 1 || s.ID != fmt.Sprintf("urn:esign-webhooks:event:%s:v%d", s.Type, s.Version) {
			t.Errorf("%s: version %d, $id %q", s.Type, s.Version, s.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("schemas for %v, want one for each of %v", got, want)
	}
}

// Every sample validates; removing any required member, or giving it a
// value of another type, does not, and the violation names its place.
func TestSamplesValidateAndBrokenOnesDoNot(t *testing.T) {
	for _, s := range schemas.All() {
		t.Run(s.Type, func(t *testing.T) {
			if v, err := s.Validate(s.Sample); err != nil || len(v) > 0 {
				t.Fatalf("sample rejected: %v %v", err, v)
			}
			var doc struct {
				Required []string `json:"required"`
			}
			if err := json.Unmarshal(s.Doc, &doc); err != nil || len(doc.Required) == 0 {
				t.Fatalf("no required members (%v): a schema that accepts {} checks nothing", err)
			}
			for _, member := range doc.Required {
				sample := decode(t, s.Sample)
				delete(sample, member)
				expect(t, s, sample, Violation("/"+member, "is required"))

				sample = decode(t, s.Sample)
				sample[member] = []any{"not", "this"}
				expect(t, s, sample, Violation("/"+member, "must be "))
			}
		})
	}
}

func TestViolations(t *testing.T) {
	declined, _ := schemas.Get(events.SignerDeclined)
	failing, _ := schemas.Get(events.WebhookFailing)
	cases := []struct {
		name   string
		schema *schemas.Schema
		edit   func(map[string]any)
		want   []want
	}{
		{"status out of range", declined, func(d map[string]any) { d["envelopeStatus"] = 9 },
			[]want{Violation("/envelopeStatus", "must be one of 1, 2, 3, 4, 5")}},
		{"status not an integer", declined, func(d map[string]any) { d["envelopeStatus"] = 1.5 },
			[]want{Violation("/envelopeStatus", "must be an integer, not a number")}},
		{"status as text", declined, func(d map[string]any) { d["envelopeStatus"] = "IN_PROGRESS" },
			[]want{Violation("/envelopeStatus", "must be an integer, not a string")}},
		{"empty envelope id", declined, func(d map[string]any) { d["envelopeId"] = "" },
			[]want{Violation("/envelopeId", "must be at least 1 characters")}},
		{"nested: a signer's e-mail and status", declined, func(d map[string]any) {
			s := d["signerInfo"].(map[string]any)
			s["userEmail"] = "not an address"
			delete(s, "signerStatus")
		}, []want{Violation("/signerInfo/signerStatus", "is required"), Violation("/signerInfo/userEmail", "must be a valid email")}},
		{"negative timestamp", declined, func(d map[string]any) { d["expireTime"] = -1 },
			[]want{Violation("/expireTime", "must be at least 0")}},
		{"unknown members are allowed, at every level", declined, func(d map[string]any) {
			d["crmOpportunityId"] = "0065g00000123"
			d["signerInfo"].(map[string]any)["ipAddress"] = "203.0.113.42"
		}, nil},
		{"several at once, ordered by place", declined, func(d map[string]any) {
			delete(d, "envelopeId")
			d["envelopeStatus"] = "x"
		}, []want{Violation("/envelopeId", "is required"), Violation("/envelopeStatus", "must be an integer, not a string")}},
		{"a uuid format", failing, func(d map[string]any) { d["webhookId"] = "hook-1" },
			[]want{Violation("/webhookId", "must be a valid uuid")}},
		{"a date-time format", failing, func(d map[string]any) { d["failingSince"] = "yesterday" },
			[]want{Violation("/failingSince", "must be a valid date-time")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sample := decode(t, tc.schema.Sample)
			tc.edit(sample)
			expect(t, tc.schema, sample, tc.want...)
		})
	}
}

func TestPointerEscapesAndBound(t *testing.T) {
	start, _ := schemas.Get(events.EnvelopeStart)
	sample := decode(t, start.Sample)
	var signers []any
	for range 3 * schemas.MaxViolations {
		signers = append(signers, map[string]any{"userEmail": 7, "signerStatus": 2})
	}
	sample["signerList"] = signers
	v, err := start.Validate(encode(t, sample))
	if err != nil || len(v) != schemas.MaxViolations {
		t.Fatalf("%d violations (%v), want the first %d", len(v), err, schemas.MaxViolations)
	}
	if got := v[0].Pointer(); got != "/signerList/0/userEmail" {
		t.Errorf("first violation at %s", got)
	}
	if got := (schemas.Violation{Path: []string{"a/b", "c~d"}}).Pointer(); got != "/a~1b/c~0d" {
		t.Errorf("pointer %s, want RFC 6901 escapes", got)
	}
	if _, err := start.Validate([]byte(`{"envelopeId":`)); err == nil {
		t.Error("broken JSON: no error")
	}
}

// The product schemas carry the same definitions (a copy each, so every
// document stands alone): they must not drift apart.
func TestSharedDefinitionsAgree(t *testing.T) {
	var first map[string]any
	for _, c := range events.Catalogue {
		s, _ := schemas.Get(c.Name)
		var doc struct {
			Defs map[string]any `json:"$defs"`
		}
		if err := json.Unmarshal(s.Doc, &doc); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = doc.Defs
		} else if !reflect.DeepEqual(doc.Defs, first) {
			t.Errorf("%s: $defs differ from %s's", c.Name, events.Catalogue[0].Name)
		}
	}
}

// BenchmarkValidate is the cost a publish pays for the schema check of a
// realistic ~1 KB ENVELOPE_SIGNER_SIGNED data (docs/performance.md).
func BenchmarkValidate(b *testing.B) {
	s, _ := schemas.Get(events.EnvelopeSignerSigned)
	data := []byte(`{"envelopeId":"env_000000000042","envelopeName":"Master Services Agreement - Acme Corp #42",` +
		`"envelopeStatus":1,"envelopeStartTime":1741944413000,"expireTime":1744536413000,` +
		`"signerInfo":{"userName":"Rahul Mehta","userEmail":"signer1.42@customer-example.com","signOrder":2,"signerStatus":2,` +
		`"businessId":"sgn_00000042_1","ipAddress":"203.0.113.42","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 Safari/605.1.15"},` +
		`"signerList":[{"userName":"Jane Doe","userEmail":"signer0.42@customer-example.com","signOrder":1,"signerStatus":2},` +
		`{"userName":"Rahul Mehta","userEmail":"signer1.42@customer-example.com","signOrder":2,"signerStatus":2},` +
		`{"userName":"Amélie Laurent","userEmail":"signer2.42@customer-example.com","signOrder":3,"signerStatus":1}],` +
		`"documents":[{"documentId":"doc_42_1","name":"MSA.pdf","pages":14},{"documentId":"doc_42_2","name":"Order Form.pdf","pages":3}],` +
		`"sender":{"userId":"usr_7f3a9c","name":"Legal Ops","email":"legal-ops@esign-customer.example"},` +
		`"metadata":{"crmOpportunityId":"0065g00000000042","department":"Sales"}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if v, err := s.Validate(data); err != nil || len(v) > 0 {
			b.Fatal(err, v)
		}
	}
	// The process's CPU time per validation (GC included): unlike ns/op,
	// it holds on a machine shared with other work.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkValidateBroken is the cost of a refused publish: data with
// three violations, each turned into a message with its pointer.
func BenchmarkValidateBroken(b *testing.B) {
	s, _ := schemas.Get(events.EnvelopeSignerSigned)
	data := []byte(`{"envelopeStatus":"1","signerInfo":{"userEmail":"nobody","signerStatus":2}}`)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if v, err := s.Validate(data); err != nil || len(v) != 3 {
			b.Fatal(err, v)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time (user and system) this process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type want struct{ pointer, message string }

// Violation is a violation expected at pointer whose message starts with
// message.
func Violation(pointer, message string) want { return want{pointer, message} }

func expect(t *testing.T, s *schemas.Schema, data map[string]any, wants ...want) {
	t.Helper()
	v, err := s.Validate(encode(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != len(wants) {
		t.Fatalf("violations %v, want %v", v, wants)
	}
	for i, w := range wants {
		if v[i].Pointer() != w.pointer || !strings.HasPrefix(v[i].Message, w.message) {
			t.Errorf("violation %d: %v, want %s: %s…", i, v[i], w.pointer, w.message)
		}
	}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
