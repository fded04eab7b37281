package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// composeEnv is what scripts/compose-test.sh passes once docker-compose.yml
// is up and healthy.
type composeEnv struct {
	api, key, receiver, ui string
}

func composeSetup(t *testing.T) composeEnv {
	env := composeEnv{api: os.Getenv("COMPOSE_API_URL"), key: os.Getenv("COMPOSE_API_KEY"),
		receiver: os.Getenv("COMPOSE_RECEIVER_ADDR"), ui: os.Getenv("COMPOSE_UI_URL")}
	if env.api == "" {
		t.Skip("COMPOSE_API_URL not set: run by make test-compose against docker-compose.yml")
	}
	if env.key == "" || env.receiver == "" || env.ui == "" {
		t.Fatalf("make test-compose sets COMPOSE_API_KEY, COMPOSE_RECEIVER_ADDR and COMPOSE_UI_URL: %+v", env)
	}
	return env
}

// hostReceiver is a webhook endpoint on the host's address in the compose
// network: the worker containers reach it there.
type hostReceiver struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (r *hostReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs, r.body = append(r.reqs, req), append(r.body, b)
	r.mu.Unlock()
	_, _ = io.WriteString(w, `{"code":"200","msg":"success"}`)
}

func (r *hostReceiver) got() ([]*http.Request, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...), append([][]byte(nil), r.body...)
}

// TestComposeDelivers: through the api container, a webhook and three
// events; the worker containers deliver each, signed, to a receiver on the
// host; the delivery log says so; the Temporal UI container lists the
// delivery workflows (it reaches the server over mTLS).
func TestComposeDelivers(t *testing.T) {
	env := composeSetup(t)
	ctx := context.Background()
	rcv := &hostReceiver{}
	ln, err := net.Listen("tcp", env.receiver)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	api := &restclient.Client{BaseURL: env.api, Key: env.key}
	hook, err := api.CreateWebhook(ctx, restclient.WebhookInput{Name: "compose test",
		URL: "http://" + env.receiver + "/hook", EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}})
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]string{} // event id → workflow id
	for i := range 3 {
		p, err := api.Publish(ctx, restclient.Event{Type: "ENVELOPE_START", TriggerSource: "saas_page",
			Data: json.RawMessage(fmt.Sprintf(`{"envelopeId":"compose-%d","envelopeStatus":1}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		published[p.EventID] = p.WorkflowID
	}

	e2etest.Eventually(t, "3 deliveries at the host receiver", func() bool { r, _ := rcv.got(); return len(r) >= 3 })
	wh, err := standardwebhooks.NewWebhook(hook.Secret)
	if err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rcv.got()
	seen := map[string]bool{}
	for i, r := range reqs {
		if err := wh.Verify(bodies[i], r.Header); err != nil {
			t.Errorf("request %d: signature does not verify: %v", i, err)
		}
		var b struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(bodies[i], &b); err != nil || published[b.EventID] == "" || seen[b.EventID] {
			t.Errorf("request %d: event %q (published %v): %v", i, b.EventID, published, err)
		}
		seen[b.EventID] = true
	}

	var page resource.Page[resource.Delivery]
	e2etest.Eventually(t, "3 succeeded deliveries in the log", func() bool {
		err := api.Do(ctx, http.MethodGet, "/v1/deliveries?status=succeeded&webhookId="+hook.ID, nil, &page)
		return err == nil && len(page.Data) == 3
	})

	// The UI server's API lists the workflows it reads from Temporal.
	var listing string
	e2etest.Eventually(t, "the Temporal UI listing the delivery workflows", func() bool {
		res, err := http.Get(env.ui + "/api/v1/namespaces/default/workflows")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		listing = fmt.Sprintf("%s %s", res.Status, b)
		for _, wf := range published {
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), wf) {
				return false
			}
		}
		return true
	})
	res, err := http.Get(env.ui + "/")
	if err != nil {
		t.Fatal(err)
	}
	page2, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page2), "<html") {
		t.Logf("UI workflows: %.300s", listing)
		t.Errorf("Temporal UI /: %s %.200s", res.Status, page2)
	}
}
