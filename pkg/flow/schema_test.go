package flow

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/invopop/jsonschema"
	sjs "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Regenerate the published schemas after a change of the contract with
//
//	go test ./pkg/flow -run TestContractSchemas -update-schemas
var updateSchemas = flag.Bool("update-schemas", false, "rewrite pkg/flow/schema/*.json from the Go types")

const module = "github.com/esign-webhooks/esign-webhooks"

// contractSchemas are the JSON Schemas of what a starter in another
// language sends and gets back, by file name: generated from the Go types
// (reflection and their doc comments), so they cannot say other than the
// code.
func contractSchemas(t *testing.T) map[string][]byte {
	t.Helper()
	r := &jsonschema.Reflector{
		// The Go JSON encoding: fields without omitempty are always
		// present, so they are required.
		RequiredFromJSONSchemaTags: false,
		Mapper: func(typ reflect.Type) *jsonschema.Schema {
			switch typ {
			case reflect.TypeFor[json.RawMessage]():
				// The event's data: any JSON value; its type's own schema
				// (GET /v1/event-types) says more. null in the input of an
				// event the API stored.
				return &jsonschema.Schema{Description: "The event's data (its type's JSON Schema: GET /v1/event-types); null when Stored."}
			case reflect.TypeFor[time.Duration]():
				return &jsonschema.Schema{Type: "integer", Description: "A duration in nanoseconds (Go's time.Duration)."}
			}
			return nil
		},
	}
	for pkg, dir := range map[string]string{"pkg/flow": ".", "pkg/events": "../events", "pkg/delivery": "../delivery"} {
		if err := r.AddGoComments(module+"/"+pkg, dir); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string][]byte{}
	for name, v := range map[string]any{
		"DeliverEvent.input.json":  DeliverEventInput{},
		"DeliverEvent.result.json": Result{},
	} {
		s := r.Reflect(v)
		s.ID = jsonschema.ID("https://esign-webhooks.example/schemas/workflows/" + name)
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = append(b, '\n')
	}
	return out
}

// TestContractSchemas fails when the committed schemas in pkg/flow/schema
// differ from what the Go types say (regenerate with -update-schemas).
func TestContractSchemas(t *testing.T) {
	for name, want := range contractSchemas(t) {
		path := filepath.Join("schema", name)
		if *updateSchemas {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the Go contract: run go test ./pkg/flow -run TestContractSchemas -update-schemas", path)
		}
	}
}

// TestContractSchemasHoldRealValues: what the Go client sends and the
// worker returns validates against the published schemas, and a value
// without a required member does not.
func TestContractSchemasHoldRealValues(t *testing.T) {
	c := sjs.NewCompiler()
	schemas := map[string]*sjs.Schema{}
	for name, b := range contractSchemas(t) {
		doc, err := sjs.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(name, doc); err != nil {
			t.Fatal(err)
		}
		if schemas[name], err = c.Compile(name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	check := func(schema string, v any, ok bool) {
		t.Helper()
		b, _ := json.Marshal(v)
		doc, err := sjs.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas[schema].Validate(doc); (err == nil) != ok {
			t.Errorf("%s %s: valid %v, want %v (%v)", schema, b, err == nil, ok, err)
		}
	}
	e := events.Event{ID: "env-42-start", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage,
		OccurredAt: time.Now().UTC(), OrderingKey: "env-42", Data: []byte(`{"envelopeId":"env-42","envelopeStatus":1}`)}
	check("DeliverEvent.input.json", DeliverEventInput{AccountID: "a", Event: e}, true)
	stored := e
	stored.Data = nil
	check("DeliverEvent.input.json", DeliverEventInput{AccountID: "a", Event: stored, Stored: true}, true)
	check("DeliverEvent.input.json", map[string]any{"Event": e}, false) // no AccountID
	wait := 30 * time.Second
	check("DeliverEvent.result.json", Result{Deliveries: []DeliveryResult{{DeliveryID: "d", WebhookID: "w", Status: "retrying",
		Attempts: 1, Last: AttemptResult{Outcome: "retry", StatusCode: 503, Wait: wait}}}}, true)
	check("DeliverEvent.result.json", map[string]any{"Deliveries": []any{map[string]any{"DeliveryID": 1}}}, false)
	if !strings.Contains(string(contractSchemas(t)["DeliverEvent.input.json"]), "idempotency key") {
		t.Error("the input schema lost the Go doc comments")
	}
}
