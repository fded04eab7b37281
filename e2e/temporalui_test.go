package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

// temporalUI is the Temporal UI of the test's dev server: TEMPORAL_UI_URL,
// or the CLI's own default beside TEMPORAL_ADDRESS (its port + 1000, as
// scripts/stack.sh starts it).
func temporalUI(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("TEMPORAL_UI_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	host, port, err := net.SplitHostPort(e2etest.TemporalAddress(t))
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Fatalf("TEMPORAL_ADDRESS %q: set TEMPORAL_UI_URL", os.Getenv("TEMPORAL_ADDRESS"))
	}
	return fmt.Sprintf("http://%s:%d", host, n+1000)
}

// TestTemporalUITellsTheStory: a delivery answered 503 four times, then
// 200, and one delivered at once, as an engineer sees them in the Temporal
// UI of the dev server (headless Chromium): the workflow's summary (type,
// envelope, why the data is absent), its current details (a row per
// webhook by name), and the summaries of its steps (each POST, each
// retry's wait and why).
func TestTemporalUITellsTheStory(t *testing.T) {
	if os.Getenv("E2E_CLUSTER") == "1" {
		t.Skip("make test-cluster's Temporal server runs without the Web UI; make test checks it on the dev server's")
	}
	ui := temporalUI(t)
	if res, err := http.Get(ui); err != nil {
		t.Fatalf("the Temporal UI at %s does not answer (set TEMPORAL_UI_URL): %v", ui, err)
	} else {
		res.Body.Close()
	}
	s := e2etest.FastSettings()
	s.Retries = []time.Duration{time.Second, time.Second, time.Second, time.Second}
	// Far below the retry waits: no attempt is held back by the throttle
	// the 503s set, so the history has exactly four retry timers.
	s.ThrottleBase, s.ThrottleMax = 10*time.Millisecond, 10*time.Millisecond
	e := e2etest.New(t, e2etest.Options{Settings: &s})
	_, key := e.Account("professional")
	flaky := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(503), e2etest.Status(503), e2etest.Status(503),
		e2etest.Status(503), e2etest.Status(200)))
	fine := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(200) })
	e.CreateWebhook(key, e2etest.Webhook{Name: "ERP prod", URL: flaky.At("/erp")})
	e.CreateWebhook(key, e2etest.Webhook{Name: "CRM sync", URL: fine.At("/crm")})
	p := e.Publish(key, e2etest.Event{ID: "env-42-start", OrderingKey: "env-42",
		Data: json.RawMessage(`{"envelopeId":"env-42","envelopeStatus":1}`)})
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 2 {
		t.Fatalf("result %+v", res)
	}

	runID := e.TC.GetWorkflow(context.Background(), p.WorkflowID, "").GetRunID()
	ctx := browsertest.New(t, 1400, 2000)
	page := ui + "/namespaces/" + namespace() + "/workflows/" + url.PathEscape(p.WorkflowID) + "/" + runID + "/history"
	uiDo(t, ctx, chromedp.Navigate(page), browsertest.WaitPageText("User Metadata"), uiClickText("User Metadata"))

	// The workflow's own metadata: summary, details, current details.
	for _, want := range []string{
		"ENVELOPE_START · envelope env-42 · from saas_page · data kept in PostgreSQL, not in this history",
		"Why the data is null",
		"ENVELOPE_START: 2 webhooks · 2 succeeded",
		"ERP prod\tsucceeded\t5\tHTTP 200", "CRM sync\tsucceeded\t1\tHTTP 200",
	} {
		uiDo(t, ctx, browsertest.WaitPageText(want))
	}
	uiScreenshot(t, ctx, "workflow")
	// The steps in the event history: each attempt and each wait, by
	// name and reason.
	uiDo(t, ctx, browsertest.Click(`[data-testid="history-tab"]`))
	for _, want := range []string{
		"record the event, match its webhooks",
		"POST #1 to CRM sync",
		"POST #1 to ERP prod",
		"retry #2 of ERP prod in 1s after HTTP 503",
		"POST #5 to ERP prod",
		"retry #5 of ERP prod in 1s after HTTP 503",
	} {
		uiDo(t, ctx, browsertest.WaitPageText(want))
	}
	uiScreenshot(t, ctx, "history")
}

func namespace() string {
	if ns := os.Getenv("TEMPORAL_NAMESPACE"); ns != "" {
		return ns
	}
	return "default"
}

// uiDo runs steps; when one fails, it saves a screenshot (when asked)
// and fails the test with the page's text.
func uiDo(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		uiScreenshot(t, ctx, "failed")
		browsertest.Fatal(t, ctx, err)
	}
}

// uiClickText clicks the innermost button, link or tab whose text is
// exactly label.
func uiClickText(label string) chromedp.Action[chromedp.Void] {
	expr := `(() => {
		const el = [...document.querySelectorAll('button, a, [role=tab]')].find(e => e.innerText.trim() === ` + strconv.Quote(label) + `);
		if (!el) return false;
		el.click();
		return true;
	})()`
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("nothing to click labelled %q", label)
		}
		return err
	})
}

// uiScreenshot saves the page as temporal-ui-<name>.png in the folder
// TEMPORAL_UI_SCREENSHOTS names, when it is set (make screenshots: docs/).
func uiScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, os.Getenv("TEMPORAL_UI_SCREENSHOTS"), "temporal-ui-"+name)
}
