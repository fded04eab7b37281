package events

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func() Event {
		return Event{Type: EnvelopeFinish, TriggerSource: SourceSaaSPage, Data: []byte(`{"envelopeId":"e1","envelopeStatus":2}`)}
	}
	if err := func() error { e := valid(); return e.Validate(0) }(); err != nil {
		t.Fatalf("valid event rejected: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*Event)
		field string
	}{
		{"bad id", func(e *Event) { e.ID = "has space" }, "id"},
		{"long id", func(e *Event) { e.ID = strings.Repeat("a", 201) }, "id"},
		{"no type", func(e *Event) { e.Type = "" }, "type"},
		{"unknown type", func(e *Event) { e.Type = "ENVELOPE_EXPLODED" }, "type"},
		{"test type is not publishable", func(e *Event) { e.Type = WebhookTest }, "type"},
		{"no source", func(e *Event) { e.TriggerSource = "" }, "triggerSource"},
		{"unknown source", func(e *Event) { e.TriggerSource = "email" }, "triggerSource"},
		{"app without id", func(e *Event) { e.TriggerSource = SourceThirdPartyApp }, "appId"},
		{"no data", func(e *Event) { e.Data = nil }, "data"},
		{"array data", func(e *Event) { e.Data = []byte(`[1]`) }, "data"},
		{"broken data", func(e *Event) { e.Data = []byte(`{"a":`) }, "data"},
		{"occurredAt past 9999 in UTC", func(e *Event) {
			e.OccurredAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))
		}, "occurredAt"},
		{"occurredAt before 0001 in UTC", func(e *Event) {
			e.OccurredAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
		}, "occurredAt"},
		{"large data", func(e *Event) { e.Data = []byte(`{"a":"` + strings.Repeat("x", 300) + `"}`) }, "data"},
		{"long ordering key", func(e *Event) { e.OrderingKey = strings.Repeat("k", 201) }, "orderingKey"},
		{"ordering key with a control character", func(e *Event) { e.OrderingKey = "env\n1" }, "orderingKey"},
		{"ordering key not UTF-8", func(e *Event) { e.OrderingKey = "env\xff" }, "orderingKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.edit(&e)
			err := e.Validate(256)
			var fe FieldErrors
			if !errors.As(err, &fe) || fe[tc.field] == "" {
				t.Fatalf("want an error on %s, got %v", tc.field, err)
			}
		})
	}
	e := valid()
	e.TriggerSource, e.AppID = SourceThirdPartyApp, "app_1"
	if err := e.Validate(0); err != nil {
		t.Fatalf("third-party event with app id rejected: %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	if len(Catalogue) != 8 {
		t.Fatalf("catalogue has %d types, want the product's 8", len(Catalogue))
	}
	for _, c := range Catalogue {
		if !IsType(c.Name) || c.Description == "" {
			t.Errorf("%+v", c)
		}
	}
}

func TestNULInData(t *testing.T) {
	for data, bad := range map[string]bool{
		`{"x":"a\u0000b"}`:  true,
		`{"x":"\\\u0000"}`:  true,  // escaped backslash, then a NUL
		`{"x":"a\\u0000b"}`: false, // the text \u0000, no NUL
		`{"x":"a\u0001b"}`:  false,
		`{"x":"\\\\u0000"}`: false,
	} {
		data = `{"envelopeId":"e1","envelopeStatus":1,` + data[1:]
		e := Event{Type: EnvelopeStart, TriggerSource: SourceSaaSPage, Data: []byte(data)}
		err := e.Validate(0)
		if got := err != nil; got != bad {
			t.Errorf("%s: error %v, want error=%v", data, err, bad)
		}
	}
	e := Event{Type: EnvelopeStart, TriggerSource: SourceThirdPartyApp, AppID: "app\x00", Data: []byte(`{}`)}
	if err := e.Validate(0); err == nil {
		t.Error("control character in appId accepted")
	}
}

// The origin decides the type and trigger source; the other rules are the
// same for all, and ValidateHead leaves Data out.
func TestValidateFrom(t *testing.T) {
	test := Event{ID: "test-1", Type: WebhookTest, TriggerSource: SourceSaaSPage, Data: []byte(`{"message":"hi"}`)}
	system, _ := Sample(WebhookFailing)
	example, _ := Sample(EnvelopeStart)
	example.OrderingKey = ""
	systemExample := system
	for _, tc := range []struct {
		name  string
		e     Event
		o     Origin
		field string // "" when valid
	}{
		{"test", test, FromTest, ""},
		{"test from a publisher", test, FromPublisher, "type"},
		{"example of a real type (send example)", example, FromTest, ""},
		{"example of an operational type", systemExample, FromTest, ""},
		{"example of an operational type from a publisher source",
			Event{Type: WebhookFailing, TriggerSource: SourceSaaSPage, Data: system.Data}, FromTest, "triggerSource"},
		{"example with an ordering key", sample(EnvelopeStart), FromTest, "orderingKey"},
		{"unknown type as a test", Event{Type: "NOPE", TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}, FromTest, "type"},
		{"example with data its schema refuses", Event{Type: EnvelopeStart, TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}, FromTest, "data.envelopeId"},
		{"test from the system source", Event{Type: WebhookTest, TriggerSource: SourceSystem, Data: []byte(`{}`)}, FromTest, "triggerSource"},
		{"operational", system, FromEngine, ""},
		{"operational from a publisher", system, FromPublisher, "type"},
		{"engine's real type", Event{Type: EnvelopeStart, TriggerSource: SourceSystem, Data: []byte(`{}`)}, FromEngine, "type"},
		{"engine's publisher source", Event{Type: WebhookDisabled, TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}, FromEngine, "triggerSource"},
		{"engine's bad data", Event{Type: WebhookDisabled, TriggerSource: SourceSystem, Data: []byte(`[]`)}, FromEngine, "data"},
	} {
		err := tc.e.ValidateFrom(tc.o, 0)
		var fe FieldErrors
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe[tc.field] == ""):
			t.Errorf("%s: want an error on %s, got %v", tc.name, tc.field, err)
		}
	}
	head := system
	head.Data = nil
	if err := head.ValidateHead(FromEngine); err != nil {
		t.Errorf("head without data: %v", err)
	}
	if err := head.ValidateFrom(FromEngine, 0); err == nil {
		t.Error("no data accepted by ValidateFrom")
	}
}

func sample(t string) Event {
	e, _ := Sample(t)
	return e
}

// Every type's sample event is valid as its maker would send it, and its
// data is its schema's sample.
func TestSamples(t *testing.T) {
	for _, c := range slices.Concat(Catalogue, SystemCatalogue, []TypeInfo{{Name: WebhookTest}}) {
		e, ok := Sample(c.Name)
		o := FromPublisher
		switch {
		case IsSystemType(c.Name):
			o = FromEngine
		case c.Name == WebhookTest:
			o = FromTest
		}
		if err := e.ValidateFrom(o, 0); !ok || err != nil || e.Type != c.Name || SchemaVersion(c.Name) < 1 {
			t.Errorf("%s: sample %+v (%v): %v, schema version %d", c.Name, e, ok, err, SchemaVersion(c.Name))
		}
	}
	if e := sample(EnvelopeFinish); e.OrderingKey != "env_sample_0001" || e.ID != "sample-envelope-finish" {
		t.Errorf("sample %+v: want the envelope as its ordering key", e)
	}
	if _, ok := Sample("NOPE"); ok || SchemaVersion("NOPE") != 0 {
		t.Error("a sample of an unknown type")
	}
}

// A refused event names each problem with its JSON pointer: the event's
// own fields first, then its data's, by place.
func TestProblems(t *testing.T) {
	e := Event{Type: SignerDeclined, TriggerSource: SourceThirdPartyApp,
		Data: []byte(`{"envelopeStatus":"4","signerInfo":{"userEmail":"x@example.com","signerStatus":3},"extra":{"any":"thing"}}`)}
	err := e.Validate(0)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []Problem{
		{"appId", "/appId", "is required when triggerSource is third_party_app"},
		{"data.envelopeId", "/data/envelopeId", "is required"},
		{"data.envelopeStatus", "/data/envelopeStatus", "must be an integer, not a string"},
	}
	if !slices.Equal(ve.Problems, want) {
		t.Fatalf("problems %+v\nwant %+v", ve.Problems, want)
	}
	var fe FieldErrors
	if !errors.As(err, &fe) || fe["data.envelopeId"] != "is required" || len(fe) != 3 {
		t.Fatalf("FieldErrors %v", fe)
	}
	// Nested members and array items: data.signerList[1].signerStatus.
	e = sample(EnvelopeStart)
	e.Data = []byte(`{"envelopeId":"e","envelopeStatus":1,"signerList":[{"userEmail":"a@example.com","signerStatus":1},{"userEmail":"b@example.com"}]}`)
	if err := e.Validate(0); !errors.As(err, &ve) ||
		!slices.Equal(ve.Problems, []Problem{{"data.signerList[1].signerStatus", "/data/signerList/1/signerStatus", "is required"}}) {
		t.Fatalf("nested: %v", err)
	}
	// An unknown type's data is not checked: the type is the problem.
	e.Type = "NOPE"
	if err := e.Validate(0); !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "type" {
		t.Fatalf("unknown type: %v", err)
	}
}

// BenchmarkValidate is the whole check of a publish (the event's fields,
// its data's bounds, then its schema) on the benchmarks' ~1 KB
// ENVELOPE_SIGNER_SIGNED data; BenchmarkValidateHead is the same event
// without the data checks, i.e. the check's cost before schemas.
func BenchmarkValidate(b *testing.B) {
	e := benchEvent()
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := e.Validate(0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkValidateHead(b *testing.B) {
	e := benchEvent()
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if err := e.ValidateHead(FromPublisher); err != nil || dataError(e.Data, 0) != "" {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time (user and system) this process has used, in ns:
// unlike ns/op it holds on a machine shared with other work.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchEvent() Event {
	return Event{ID: "env_000000000042-signed-1", Type: EnvelopeSignerSigned, TriggerSource: SourceSaaSPage, OrderingKey: "env_000000000042",
		Data: []byte(`{"envelopeId":"env_000000000042","envelopeName":"Master Services Agreement - Acme Corp #42",` +
			`"envelopeStatus":1,"envelopeStartTime":1741944413000,"expireTime":1744536413000,` +
			`"signerInfo":{"userName":"Rahul Mehta","userEmail":"signer1.42@customer-example.com","signOrder":2,"signerStatus":2,` +
			`"businessId":"sgn_00000042_1","ipAddress":"203.0.113.42","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 Safari/605.1.15"},` +
			`"signerList":[{"userEmail":"signer0.42@customer-example.com","signOrder":1,"signerStatus":2},` +
			`{"userEmail":"signer1.42@customer-example.com","signOrder":2,"signerStatus":2},` +
			`{"userEmail":"signer2.42@customer-example.com","signOrder":3,"signerStatus":1}],` +
			`"documents":[{"documentId":"doc_42_1","name":"MSA.pdf","pages":14},{"documentId":"doc_42_2","name":"Order Form.pdf","pages":3}],` +
			`"sender":{"userId":"usr_7f3a9c","name":"Legal Ops","email":"legal-ops@esign-customer.example"},` +
			`"metadata":{"crmOpportunityId":"0065g00000000042","department":"Sales"}}`)}
}
