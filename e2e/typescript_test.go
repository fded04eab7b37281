package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"testing"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// tsExample is the TypeScript example, built by make test (scripts/test.sh:
// npm ci && npm run build).
const tsExample = "../examples/typescript"

// TestTypeScriptStarter: a service in TypeScript starts DeliverEvent with
// @temporalio/client (examples/typescript) and gets what a Go service
// using pkg/publish gets: its input holds to the published JSON Schema,
// publishing twice (and a third time, after the delivery) delivers once,
// and the receiver gets the same signed body as for the Go twin.
func TestTypeScriptStarter(t *testing.T) {
	if os.Getenv("E2E_CLUSTER") == "1" {
		t.Skip("the example connects without TLS; make test runs it against the dev server, not make test-cluster's mTLS server")
	}
	script := filepath.Join(tsExample, "dist", "deliver.js")
	if _, err := os.Stat(script); err != nil {
		t.Skip("examples/typescript is not built: make test builds it (npm ci && npm run build)")
	}
	node, err := osexec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(200) })
	wh, secret := e.CreateWebhook(key, e2etest.Webhook{Name: "TS receiver", URL: rcv.At("/ts")})

	type run struct {
		WorkflowID, RunID, AgainRunID string
		Result                        flow.Result
	}
	start := func() run {
		t.Helper()
		cmd := osexec.Command(node, script)
		cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+e2etest.TemporalAddress(t), "TEMPORAL_NAMESPACE="+namespace(),
			"TEMPORAL_TASK_QUEUE="+e.Queue, "ACCOUNT_ID="+acct, "EVENT_ID=ts-env-42-start", "ENVELOPE_ID=env-42")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
		}
		var r run
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("its output %q: %v", out, err)
		}
		return r
	}
	first := start()
	if first.WorkflowID != flow.EventWorkflowID(acct, "ts-env-42-start") || first.AgainRunID != first.RunID {
		t.Fatalf("TypeScript run %+v: want the Go id rule and one run for both starts", first)
	}
	res := first.Result
	if len(res.Deliveries) != 1 || res.Deliveries[0].WebhookID != wh || res.Deliveries[0].Status != "succeeded" {
		t.Fatalf("result %+v", res)
	}
	// Published again after its delivery: the same run, nothing new sent.
	if again := start(); again.RunID != first.RunID || again.AgainRunID != first.RunID {
		t.Fatalf("after the delivery, a new run %+v", again)
	}

	// Its input holds to the schema other languages are given.
	validateInput(t, e, first.WorkflowID)

	// The Go twin: the same event from pkg/publish.
	twin, err := e.Pub.Publish(context.Background(), acct, events.Event{ID: "go-env-42-start", Type: events.EnvelopeStart,
		TriggerSource: events.SourceSaaSPage, Data: []byte(`{"envelopeId":"env-42","envelopeStatus":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.Result(twin.WorkflowID)
	reqs := rcv.WaitCount(t, 2)
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want one per event", len(reqs))
	}
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [2]map[string]any
	for i, r := range reqs {
		if err := verifier.Verify(r.Body, r.Header); err != nil {
			t.Fatalf("request %d does not verify: %v", i+1, err)
		}
		if err := json.Unmarshal(r.Body, &bodies[i]); err != nil {
			t.Fatal(err)
		}
		// What differs by nature: the event's id and when it happened.
		delete(bodies[i], "eventId")
		delete(bodies[i], "occurredAt")
	}
	if !reflect.DeepEqual(bodies[0], bodies[1]) {
		t.Fatalf("TypeScript's delivery %v differs from Go's %v", bodies[0], bodies[1])
	}
}

// validateInput checks the input of workflowID's first run against
// pkg/flow/schema/DeliverEvent.input.json.
func validateInput(t *testing.T, e *e2etest.Env, workflowID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2etest.Deadline)
	defer cancel()
	it := e.TC.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	var payloads []*commonpb.Payload
	if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
		payloads = a.GetInput().GetPayloads()
	}
	if len(payloads) != 1 || string(payloads[0].GetMetadata()["encoding"]) != "json/plain" {
		t.Fatalf("the workflow's input: %v", payloads)
	}
	c := sjs.NewCompiler()
	schema, err := c.Compile("../pkg/flow/schema/DeliverEvent.input.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sjs.UnmarshalJSON(bytes.NewReader(payloads[0].GetData()))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("TypeScript's input %s does not hold to the schema: %v", payloads[0].GetData(), err)
	}
}
