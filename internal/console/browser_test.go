package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not contain %q", what, got, want)
	}
}

// TestBrowserAdminLifecycle: sign in with a minted link, add a webhook
// (the API's field errors first), read the secret, edit refused while
// enabled, disable → edit → enable, reset and copy, reveal, a form without
// its CSRF token refused, delete with the typed-name confirmation.
func TestBrowserAdminLifecycle(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	rcv, _ := receiver(t)
	ctx := newBrowser(t, "")

	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"))
	mustContain(t, "empty list", text(t, ctx, "main"), "No webhooks yet")
	screenshot(t, ctx, "list-empty")

	// Add: empty fields come back with the API's own messages beside them.
	do(t, ctx, click("#add-webhook"), visible("#webhook-form"),
		click("#save"), visible("#name-error"))
	mustContain(t, "name error", text(t, ctx, "#name-error"), "is required")
	mustContain(t, "url error", text(t, ctx, "#url-error"), "is required")
	if !exists(t, ctx, "#eventTypes-error") {
		t.Fatal("no error beside the event types")
	}
	screenshot(t, ctx, "add-errors")
	do(t, ctx, keys("#name", "CRM sync"), keys("#url", rcv.URL+"/esign"),
		click("#et-ENVELOPE_START"), click("#et-ENVELOPE_FINISH"))
	screenshot(t, ctx, "add")
	do(t, ctx, click("#save"), visible("#secret"))
	secret := value(t, ctx, "#secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret on the page: %q", secret)
	}
	mustContain(t, "saved page", text(t, ctx, "main"), "keep it safe")

	// Copy: the button puts the secret on the clipboard.
	grantClipboard(t, ctx, s.srv.URL)
	do(t, ctx, click("#copy"), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`document.querySelector(".copied").textContent !== ""`)(ctx, tg)
		return err
	}))
	copied := browsertest.Get(t, ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if copied != secret {
		t.Fatalf("clipboard holds %q, want the secret", copied)
	}
	screenshot(t, ctx, "secret")

	// Details: enabled, so no Edit or Delete, and the page says why.
	do(t, ctx, click(`main a.button[href^="/console/webhooks/"]`), visible("#send-test"))
	loc := browsertest.Get(t, ctx, chromedp.Location())
	details := strings.TrimPrefix(loc, s.srv.URL)
	if exists(t, ctx, "#edit") || exists(t, ctx, "#delete") {
		t.Fatal("edit or delete offered while enabled")
	}
	mustContain(t, "why", text(t, ctx, "#why-no-edit"), "only while the webhook is disabled")
	screenshot(t, ctx, "details")

	// Editing while enabled: the API refuses, the page says so.
	do(t, ctx, chromedp.Navigate(s.srv.URL+details+"/edit"), visible("#webhook-form"),
		click("#save"), waitText(".alert", "Disable the webhook first"))

	// Disable → edit → enable.
	do(t, ctx, chromedp.Navigate(s.srv.URL+details), click("#disable"), visible("#enable"))
	mustContain(t, "status", text(t, ctx, "main"), "Disabled")
	do(t, ctx, click("#edit"), visible("#webhook-form"),
		setv("#name", "CRM sync v2"), click("#save"), visible("#enable"))
	mustContain(t, "renamed", text(t, ctx, "h1"), "CRM sync v2")
	do(t, ctx, click("#enable"), visible("#disable"))
	mustContain(t, "enabled flash", text(t, ctx, ".flash"), "enabled")

	// Reset Secret Key with a grace period, then Copy; Show reveals it.
	do(t, ctx, chromedp.Navigate(s.srv.URL+details+"/reset"), visible("#confirm-reset"))
	screenshot(t, ctx, "reset")
	do(t, ctx, click("#confirm-reset"), visible("#secret"))
	reset := value(t, ctx, "#secret")
	if reset == secret || !strings.HasPrefix(reset, "whsec_") {
		t.Fatalf("reset secret %q (old %q)", reset, secret)
	}
	mustContain(t, "grace", text(t, ctx, "main"), "keeps signing until")
	do(t, ctx, click("#copy"))
	copied = browsertest.Get(t, ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if copied != reset {
		t.Fatalf("clipboard after reset holds %q", copied)
	}
	do(t, ctx, chromedp.Navigate(s.srv.URL+details), click("#reveal"), visible("#secret"))
	revealed := value(t, ctx, "#secret")
	if revealed != reset {
		t.Fatalf("revealed %q, want the reset secret", revealed)
	}

	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/"), visible("#webhooks"))
	screenshot(t, ctx, "list")
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), visible("#webhooks"))
	screenshot(t, ctx, "list-phone")
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// A form without the session's CSRF token is refused.
	do(t, ctx, chromedp.Navigate(s.srv.URL+details), visible("#disable"),
		js(`document.querySelector('form[action$="/disable"] input[name=csrf]').remove(); document.querySelector("#disable").click(); true`),
		browsertest.WaitText("h1", "This form was refused"))
	do(t, ctx, chromedp.Navigate(s.srv.URL+details), visible("#disable")) // still enabled

	// Delete: disabled first, then the name typed again.
	do(t, ctx, click("#disable"), visible("#delete"), click("#delete"),
		visible("#confirmName"))
	// The page's script disables the button once it runs (a loaded
	// machine may run it after the form is visible): wait for that.
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`document.querySelector("#confirm-delete").disabled`,
			chromedp.WithPollingTimeout(10*time.Second))(ctx, tg)
		if err != nil {
			return fmt.Errorf("delete button active before the name is typed: %w", err)
		}
		return nil
	}))
	screenshot(t, ctx, "delete")
	// Without script the server checks the name too.
	do(t, ctx, setv("#confirmName", "CRM sync"),
		js(`document.querySelector("#confirm-delete").disabled = false; document.querySelector("#confirm-delete").click(); true`),
		visible("#confirm-error"))
	do(t, ctx, keys("#confirmName", "CRM sync v2"), click("#confirm-delete"),
		visible("#add-webhook"))
	mustContain(t, "deleted", text(t, ctx, ".flash"), "deleted")
	if exists(t, ctx, "#webhooks") {
		t.Fatal("the deleted webhook is still listed")
	}
}

// grantClipboard lets the page at origin use the clipboard (the Copy
// button), as a user's click would in a visible browser.
func grantClipboard(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	do(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// TestBrowserDeliveries: a real delivery through Temporal failing, then
// "resend failed since…", its attempts in the log (status, latency,
// response), a single resend, a test event answered inline, and the
// event's link to its workflow in the Temporal Web UI.
func TestBrowserDeliveries(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	var failing atomic.Bool
	failing.Store(true)
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"code":"500","msg":"receiver down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(rcv.Close)
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "Orders", "url": rcv.URL + "/hook",
		"eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"}}, http.StatusCreated, &hook)
	s.api("POST", "/v1/events", key, map[string]any{"id": "env-1-start", "type": "ENVELOPE_START", "triggerSource": "saas_page",
		"data": map[string]any{"envelopeId": "env-1", "envelopeStatus": 1}}, http.StatusAccepted, nil)
	deliveryID := waitDelivery(t, s, key, hook.ID, "env-1-start", "failed")
	failing.Store(false)

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#webhooks"))
	mustContain(t, "last delivery", text(t, ctx, "#webhooks tbody tr"), "Failed")

	log := s.srv.URL + "/console/webhooks/" + hook.ID + "/deliveries"
	do(t, ctx, chromedp.Navigate(log), visible("#deliveries"))
	mustContain(t, "log", text(t, ctx, "#deliveries"), "ENVELOPE_START")
	mustContain(t, "log", text(t, ctx, "#deliveries"), "Failed")
	do(t, ctx, click("#bulk-resend"), visible("#bulk-result"))
	mustContain(t, "bulk", text(t, ctx, "#bulk-result"), "1 deliveries resent")
	waitDelivery(t, s, key, hook.ID, "env-1-start", "succeeded")
	do(t, ctx, chromedp.Navigate(log+"?status=succeeded"), visible("#deliveries"))
	mustContain(t, "filtered log", text(t, ctx, "#deliveries"), "Succeeded")
	screenshot(t, ctx, "log")
	do(t, ctx, chromedp.Navigate(log+"?status=failed"), visible(".empty"))

	// The delivery's attempts: four 500s, then the resend's 200.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/deliveries/"+deliveryID), visible("#attempts"))
	attempts := text(t, ctx, "#attempts")
	for _, want := range []string{"HTTP 500", "HTTP 200", "ms", "receiver down", "success"} {
		mustContain(t, "attempts", attempts, want)
	}
	screenshot(t, ctx, "delivery")
	before := got.Load()
	do(t, ctx, click("#resend"), visible(".flash"))
	mustContain(t, "resend", text(t, ctx, ".flash"), "Resend started")
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got.Load() == before {
		t.Fatal("the resend never reached the receiver")
	}

	// The event, linked to its workflow in the Temporal Web UI.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/events/env-1-start"), visible("#workflow-link"))
	href := browsertest.Get(t, ctx, chromedp.AttributeValue(chromedp.CSS("#workflow-link"), "href")).Value
	if !strings.HasPrefix(href, temporalUI+"/namespaces/default/workflows/event%2F") {
		t.Fatalf("workflow link %q", href)
	}
	screenshot(t, ctx, "event")

	// Send test event: the receiver's answer inline.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/"+hook.ID), click("#send-test"),
		visible("#test-result"))
	res := text(t, ctx, "#test-result")
	mustContain(t, "test", res, "accepted")
	mustContain(t, "test", res, "HTTP 200")
	screenshot(t, ctx, "test-event")
}

// waitDelivery waits until the webhook's delivery of eventID has status
// and returns its id.
func waitDelivery(t *testing.T, s *stack, key, hook, eventID, status string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out struct {
			Data []struct {
				ID      string `json:"id"`
				EventID string `json:"eventId"`
				Status  string `json:"status"`
			} `json:"data"`
		}
		s.api("GET", "/v1/deliveries?webhookId="+hook, key, nil, http.StatusOK, &out)
		for _, d := range out.Data {
			if d.EventID == eventID && d.Status == status {
				return d.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s delivery of %s: %+v", status, eventID, out.Data)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserOrdered: an ordered webhook that holds a key on failure, made
// and edited through the form; two events of one envelope, the first given
// up on by the receiver, the second waiting for it in the log and on its
// page; "Release this key" lets the second go.
func TestBrowserOrdered(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	rcv, delivered := orderedReceiver(t)
	ctx := newBrowser(t, "")

	// Add: the give-up choice shows once the box is ticked.
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		click("#add-webhook"), visible("#webhook-form"), chromedp.WaitNotVisible(chromedp.CSS("#onfailure-field")))
	do(t, ctx, keys("#name", "Envelope sync"), keys("#url", rcv.URL+"/esign"),
		click("#et-ENVELOPE_START"), click("#et-ENVELOPE_FINISH"),
		click("#ordered"), visible("#orderedOnFailure"), setv("#orderedOnFailure", "hold"))
	screenshot(t, ctx, "add-ordered")
	do(t, ctx, click("#save"), visible("#secret"),
		click(`main a.button[href^="/console/webhooks/"]`), visible("#send-test"))
	details := strings.TrimPrefix(browsertest.Get(t, ctx, chromedp.Location()), s.srv.URL)
	hook := strings.TrimPrefix(details, "/console/webhooks/")
	mustContain(t, "ordering", text(t, ctx, "#ordering"), "each envelope's events in order")
	mustContain(t, "ordering", text(t, ctx, "#ordering"), "(hold)")

	// Edit keeps both: the form shows them and sends them back.
	do(t, ctx, click("#disable"), visible("#edit"), click("#edit"), visible("#webhook-form"))
	checked := browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#ordered").checked`))
	if v := value(t, ctx, "#orderedOnFailure"); !checked || v != "hold" {
		t.Fatalf("edit form: ordered %v, on failure %q", checked, v)
	}
	do(t, ctx, click("#save"), visible("#enable"))
	mustContain(t, "ordering after edit", text(t, ctx, "#ordering"), "(hold)")
	do(t, ctx, click("#enable"), visible("#disable"))

	// Event 1 of env-7 is given up on; event 2 waits for it (hold).
	for _, id := range []string{"env-7-start", "env-7-finish"} {
		typ := "ENVELOPE_START"
		if strings.HasSuffix(id, "finish") {
			typ = "ENVELOPE_FINISH"
		}
		s.api("POST", "/v1/events", key, map[string]any{"id": id, "type": typ, "triggerSource": "saas_page",
			"orderingKey": "env-7", "data": map[string]any{"envelopeId": "env-7", "envelopeStatus": 1}}, http.StatusAccepted, nil)
	}
	failed := waitDelivery(t, s, key, hook, "env-7-start", "failed")
	waiting := waitDelivery(t, s, key, hook, "env-7-finish", "waiting")

	log := s.srv.URL + "/console/webhooks/" + hook + "/deliveries"
	do(t, ctx, chromedp.Navigate(log+"?status=waiting"), visible("#deliveries"))
	rows := text(t, ctx, "#deliveries")
	for _, want := range []string{"env-7-finish", "Waiting for its turn", "waits for delivery", "Ordering key env-7 · no. 2"} {
		mustContain(t, "waiting log", rows, want)
	}
	if strings.Contains(rows, "env-7-start") {
		t.Fatal("the waiting filter shows the failed delivery")
	}
	screenshot(t, ctx, "log-waiting")

	// The failed delivery holds the key: its page offers the release too.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/deliveries/"+failed), visible("#release"))
	// The waiting one links to it and releases the key.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/deliveries/"+waiting), visible("#release"))
	mustContain(t, "key", text(t, ctx, "#ordering-key"), "env-7 · no. 2")
	href := browsertest.Get(t, ctx, chromedp.AttributeValue(chromedp.CSS("#waiting-for a"), "href")).Value
	if href != "/console/deliveries/"+failed {
		t.Fatalf("waiting for %q, want the failed delivery %s", href, failed)
	}
	screenshot(t, ctx, "delivery-waiting")
	do(t, ctx, click("#release"), waitText(".flash", "The key was released"))
	waitDelivery(t, s, key, hook, "env-7-finish", "succeeded")
	if got := delivered(); len(got) != 1 || got[0] != "env-7-finish/2" {
		t.Fatalf("the receiver accepted %v, want env-7-finish/2 only", got)
	}

	// Released: the failed delivery no longer holds the key nor offers it.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/deliveries/"+failed), visible("#ordering-key"))
	mustContain(t, "released", text(t, ctx, "#ordering-key"), "no longer holds the key")
	if exists(t, ctx, "#release") {
		t.Fatal("release offered again after the release")
	}
}

// orderedReceiver answers 500 to the first event of every ordering key and
// 200 to the rest; delivered lists what it accepted, as eventId/sequence.
func orderedReceiver(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			EventID  string `json:"eventId"`
			Sequence int64  `json:"sequence"`
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Sequence == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		mu.Lock()
		got = append(got, fmt.Sprintf("%s/%d", p.EventID, p.Sequence))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestBrowserMemberReadOnly: a member sees the webhooks and their details
// but no control that changes anything, nor the secret.
func TestBrowserMemberReadOnly(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "Audit", "url": "https://example.com/hook",
		"eventTypes": []string{"ENVELOPE_FINISH"}, "triggerSources": []string{"third_party_app"}, "appIds": []string{"app_1"}}, http.StatusCreated, &hook)
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "member")), visible("#webhooks"))
	mustContain(t, "note", text(t, ctx, "main"), "only administrators can change it")
	for _, sel := range []string{"#add-webhook", `form[action$="/disable"]`, `a[href$="/reset"]`} {
		if exists(t, ctx, sel) {
			t.Errorf("member sees %s", sel)
		}
	}
	screenshot(t, ctx, "member")
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/"+hook.ID), visible("#open-log"))
	for _, sel := range []string{"#reveal", "#send-test", "#disable", "#edit"} {
		if exists(t, ctx, sel) {
			t.Errorf("member sees %s on the details page", sel)
		}
	}
	mustContain(t, "secret", text(t, ctx, "main"), "Only administrators can see the secret key")
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/new"), visible("h1"))
	mustContain(t, "add page", text(t, ctx, "h1"), "Administrators only")
}

// TestBrowserTrialPlan: Trial and Basic accounts see that their plan has no
// webhooks.
func TestBrowserTrialPlan(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("trial")
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible(".plans"))
	mustContain(t, "plan", text(t, ctx, "main"), "Your plan does not include webhooks")
	if exists(t, ctx, "#add-webhook") {
		t.Error("Add Webhook offered on the trial plan")
	}
	screenshot(t, ctx, "plan")
}

// TestBrowserLinksAndLanguage: Accept-Language picks Simplified Chinese,
// the switch changes it and is remembered; a used link and an expired link
// answer a clear page.
func TestBrowserLinksAndLanguage(t *testing.T) {
	s := newStack(t, false)
	acct, key := s.account("professional")
	ctx := newBrowser(t, "zh-CN,zh;q=0.9,en;q=0.5")
	link := s.link(key, "admin")
	do(t, ctx, chromedp.Navigate(link), visible("#add-webhook"))
	mustContain(t, "zh", text(t, ctx, "#add-webhook"), "添加 Webhook")
	screenshot(t, ctx, "list-zh")
	do(t, ctx, click("#lang-en"), visible("#lang-zh"))
	mustContain(t, "en", text(t, ctx, "#add-webhook"), "Add Webhook")
	do(t, ctx, chromedp.Reload(), visible("#lang-zh"))

	// The same link again: used.
	do(t, ctx, chromedp.Navigate(link), visible("h1"))
	mustContain(t, "used", text(t, ctx, "h1"), "already used")
	screenshot(t, ctx, "link-used")

	// An expired link.
	token, err := s.store.CreateConsoleLink(context.Background(), db.ConsoleLink{AccountID: acct, Role: "admin",
		ExpiresAt: time.Now().Add(-time.Second)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/console/login?token=%s", s.srv.URL, url.QueryEscape(token))), visible("h1"))
	mustContain(t, "expired", text(t, ctx, "h1"), "expired")
}

// TestBrowserDeliveryOptions: the form's timeout, retry schedule (a preset
// or custom waits, shown only when chosen) and payload; a field error
// beside the field; the details page; the edit form filled back.
func TestBrowserDeliveryOptions(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		click("#add-webhook"), visible("#webhook-form"), chromedp.WaitNotVisible(chromedp.CSS("#waits-field")))
	do(t, ctx, keys("#name", "Thin CRM"), keys("#url", "https://crm.example.com/esign"), click("#et-ENVELOPE_FINISH"),
		keys("#timeoutSeconds", "45"), setv("#retrySchedule", "custom"),
		js(`document.querySelector("#retrySchedule").dispatchEvent(new Event("change"))`), visible("#retryWaits"),
		keys("#retryWaits", "10s, 2d"), setv("#payload", "thin"))
	do(t, ctx, click("#save"), visible("#timeout-error"))
	screenshot(t, ctx, "add-delivery-options")
	mustContain(t, "timeout error", text(t, ctx, "#timeout-error"), "from 1 to 30")
	mustContain(t, "waits error", text(t, ctx, "#waits-error"), `wait 2 ("2d") is not a duration`)
	if v := value(t, ctx, "#retryWaits"); v != "10s, 2d" {
		t.Fatalf("the form lost the waits: %q", v)
	}
	do(t, ctx, setv("#timeoutSeconds", "12"), setv("#retryWaits", "10s, 1m, 1h30m"), click("#save"), visible("#secret"),
		click(`main a.button[href^="/console/webhooks/"]`), visible("#send-test"))
	mustContain(t, "timeout", text(t, ctx, "#timeout"), "12 s")
	mustContain(t, "schedule", text(t, ctx, "#schedule"), "Custom: 10s, 1m, 1h30m")
	mustContain(t, "payload", text(t, ctx, "#payload"), "Thin")
	screenshot(t, ctx, "details-delivery-options")

	// Edit shows them back; a preset and the default timeout save.
	do(t, ctx, click("#disable"), visible("#edit"), click("#edit"), visible("#webhook-form"))
	if a, b, c := value(t, ctx, "#timeoutSeconds"), value(t, ctx, "#retrySchedule"), value(t, ctx, "#retryWaits"); a != "12" ||
		b != "custom" || c != "10s, 1m, 1h30m" || value(t, ctx, "#payload") != "thin" {
		t.Fatalf("edit form: timeout %q, schedule %q, waits %q", a, b, c)
	}
	do(t, ctx, setv("#timeoutSeconds", ""), setv("#retrySchedule", "fast"), setv("#payload", "full"), click("#save"),
		visible("#enable"))
	mustContain(t, "timeout after edit", text(t, ctx, "#timeout"), "Default (2s)")
	mustContain(t, "schedule after edit", text(t, ctx, "#schedule"), "Fast: 5s, 15s, 30s, 1m, 2m, 5m")
	mustContain(t, "payload after edit", text(t, ctx, "#payload"), "Full")
}

// TestBrowserEventTypes: the event-types page shows each type's schema
// version, JSON Schema and sample (in both languages); "Send example" on a
// webhook's page sends the sample of a type it subscribes to, through
// Temporal, to a real receiver, and the log marks it as a test.
func TestBrowserEventTypes(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	got := make(chan []byte, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- body
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(rcv.Close)
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "Signing", "url": rcv.URL + "/hook",
		"eventTypes": []string{"ENVELOPE_START", "SIGNER_DECLINED"}, "triggerSources": []string{"saas_page"}}, http.StatusCreated, &hook)

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#nav-event-types"), click("#nav-event-types"),
		visible("#type-SIGNER_DECLINED"))
	mustContain(t, "SIGNER_DECLINED", text(t, ctx, "#type-SIGNER_DECLINED"), "schema v1")
	mustContain(t, "SIGNER_DECLINED", text(t, ctx, "#type-SIGNER_DECLINED"), "A signer declined to sign")
	// The schema and the sample are folded away until opened.
	folded := func(sel string) string {
		return browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
	}
	schema := folded("#type-SIGNER_DECLINED details.schema pre")
	mustContain(t, "schema", schema, `"$schema": "https://json-schema.org/draft/2020-12/schema"`)
	mustContain(t, "schema", schema, `"$id": "urn:esign-webhooks:event:SIGNER_DECLINED:v1"`)
	mustContain(t, "sample", folded("#type-SIGNER_DECLINED details.sample pre"), `"envelopeStatus": 4`)
	mustContain(t, "operational sample", folded("#type-WEBHOOK_DISABLED details.sample pre"), `"triggerSource": "system"`)
	do(t, ctx, click("#type-SIGNER_DECLINED details.sample summary"), visible("#type-SIGNER_DECLINED details.sample pre"))
	mustContain(t, "opened sample", text(t, ctx, "#type-SIGNER_DECLINED details.sample pre"), `"declineReason"`)
	screenshot(t, ctx, "event-types")

	// Send example: the chosen type's sample, marked test.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/"+hook.ID), visible("#send-example"))
	options := browsertest.Get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#example-type option")].map(o => o.value).join(",")`))
	if options != "ENVELOPE_START,SIGNER_DECLINED" {
		t.Fatalf("example types offered: %s", options)
	}
	do(t, ctx, setv("#example-type", "SIGNER_DECLINED"), click("#send-example"), visible("#test-result"))
	res := text(t, ctx, "#test-result")
	for _, want := range []string{"accepted", "SIGNER_DECLINED", "example", "HTTP 200"} {
		mustContain(t, "example result", res, want)
	}
	screenshot(t, ctx, "send-example")
	var body struct {
		Event        string          `json:"event"`
		Test         bool            `json:"test"`
		EventPayload json.RawMessage `json:"eventPayload"`
	}
	select {
	case b := <-got:
		if err := json.Unmarshal(b, &body); err != nil || body.Event != "SIGNER_DECLINED" || !body.Test ||
			!strings.Contains(string(body.EventPayload), `"declineReason"`) {
			t.Fatalf("the receiver got %s", b)
		}
	case <-ctx.Done():
		t.Fatal("the example never reached the receiver")
	}
	// The log marks it: the delivery, its row in the log, the event.
	do(t, ctx, click(`#test-result a[href^="/console/deliveries/"]`), visible("#test-badge"))
	mustContain(t, "delivery", text(t, ctx, "#test-badge"), "test")
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/"+hook.ID+"/deliveries"), visible("#deliveries"))
	mustContain(t, "log", text(t, ctx, "#deliveries"), "SIGNER_DECLINED test")
	do(t, ctx, click(`#deliveries a[href^="/console/events/"]`), visible("#schema-version"))
	mustContain(t, "event", text(t, ctx, "#schema-version"), "schema v1")
	mustContain(t, "event", text(t, ctx, "#test-badge"), "test")

	// In Simplified Chinese.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/event-types"), visible("#lang-zh"), click("#lang-zh"),
		visible("#lang-en"))
	mustContain(t, "zh title", text(t, ctx, "h1"), "事件类型")
	mustContain(t, "zh description", text(t, ctx, "#type-SIGNER_DECLINED"), "签署人拒绝签署")
	mustContain(t, "zh version", text(t, ctx, "#type-SIGNER_DECLINED"), "Schema 版本 v1")
	screenshot(t, ctx, "event-types-zh")
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/webhooks/"+hook.ID), visible("#send-example"))
	mustContain(t, "zh button", text(t, ctx, "#send-example"), "发送示例")
	do(t, ctx, click("#lang-en"), visible("#lang-zh"))
}

// TestBrowserSearchLog: the delivery log's search form (envelope, status,
// HTTP status class, time range) finds the deliveries it names, keeps its
// values on the next page, says which field is wrong, and speaks Chinese.
func TestBrowserSearchLog(t *testing.T) {
	s := newStack(t, false)
	acct, key := s.account("professional")
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "ERP", "url": "http://127.0.0.1:1/hook",
		"eventTypes": []string{"ENVELOPE_START", "ENVELOPE_FINISH"}, "triggerSources": []string{"saas_page"}}, http.StatusCreated, &hook)
	ctx0 := context.Background()
	for _, l := range []struct {
		id, envelope string
		status       delivery.Status
		code         int
	}{{"ev-start-1", "env-1", delivery.Failed, 404}, {"ev-finish-1", "env-1", delivery.Succeeded, 200},
		{"ev-start-2", "env-2", delivery.Failed, 503}} {
		ev := db.Event{AccountID: acct, WorkflowID: "wf-" + l.id, Event: events.Event{ID: l.id, Type: events.EnvelopeStart,
			TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(), Data: []byte(`{"envelopeId":"` + l.envelope + `"}`)}}
		ds, err := s.store.RecordEvent(ctx0, ev, []uuid.UUID{uuid.MustParse(hook.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.store.FinishDelivery(ctx0, ds[0].ID, 1, l.status, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.DB().Exec(`UPDATE deliveries SET last_status_code = $2 WHERE id = $1`, ds[0].ID, l.code); err != nil {
			t.Fatal(err)
		}
	}

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#webhooks"))
	log := s.srv.URL + "/console/webhooks/" + hook.ID + "/deliveries"
	do(t, ctx, chromedp.Navigate(log), visible("#search"))
	do(t, ctx, setv("#envelopeId", "env-1"), setv("#status", "failed"),
		click("#search-submit"), searched("env-1"), visible("#deliveries"))
	rows := text(t, ctx, "#deliveries tbody")
	if !strings.Contains(rows, "ev-start-1") || strings.Contains(rows, "ev-finish-1") || strings.Contains(rows, "ev-start-2") {
		t.Fatalf("envelope env-1, failed: %q", rows)
	}
	screenshot(t, ctx, "log-search")
	// The form keeps its values; another search by class and time.
	if env := value(t, ctx, "#envelopeId"); env != "env-1" {
		t.Fatalf("the envelope field holds %q after the search", env)
	}
	from := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
	do(t, ctx, js(`document.querySelector("#envelopeId").value = ""; document.querySelector("#status").value = ""`),
		setv("#httpStatus", "5xx"), js(`document.querySelector("#from").value = `+jsString(from)),
		click("#search-submit"), searched("5xx"), visible("#deliveries"))
	rows = text(t, ctx, "#deliveries tbody")
	if !strings.Contains(rows, "ev-start-2") || strings.Contains(rows, "ev-start-1") {
		t.Fatalf("5xx since an hour ago: %q", rows)
	}
	do(t, ctx, js(`document.querySelector("#to").value = `+jsString(from)), click("#search-submit"), visible("#search-error"))
	mustContain(t, "backwards range", text(t, ctx, "#search-error"), "to: must be after from")

	zh := newBrowser(t, "zh-CN,zh;q=0.9")
	do(t, zh, chromedp.Navigate(s.link(key, "admin")), visible("#webhooks"))
	do(t, zh, chromedp.Navigate(log+"?httpStatus=4x"), visible("#search-error"))
	mustContain(t, "zh legend", text(t, zh, "#search legend"), "搜索")
	mustContain(t, "zh error", text(t, zh, "#search-error"), "httpStatus")
}

// searched waits until the page is the answer to a search naming v (the
// submit navigates: the old page answers until the new one is there).
func searched(v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		expr := `decodeURIComponent(location.search).includes(` + jsString(v) + `)`
		if _, err := browsertest.Until(expr, fmt.Sprintf("no search for %q", v))(ctx, tg); err != nil {
			return err
		}
		_, err := chromedp.WaitReady(chromedp.CSS("body"))(ctx, tg)
		return err
	})
}

// TestBrowserTraceContext: the delivery options' "Send the W3C traceparent
// header" checkbox (docs/tracing.md), in English and Chinese: off by
// default, saved on create, shown on the details page, checked again in
// the edit form, and cleared by an edit.
func TestBrowserTraceContext(t *testing.T) {
	s := newStack(t, false)
	acct, key := s.account("professional")
	checked := func(ctx context.Context) bool {
		return browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#traceContext").checked`))
	}
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		click("#add-webhook"), visible("#traceContext"))
	mustContain(t, "label", text(t, ctx, `label[for="traceContext"]`), "Send the W3C traceparent header")
	if checked(ctx) {
		t.Fatal("traceContext is checked by default")
	}
	do(t, ctx, keys("#name", "Traced ERP"), keys("#url", "https://erp.example.com/esign"), click("#et-ENVELOPE_FINISH"),
		click("#traceContext"), click("#save"), visible("#secret"),
		click(`main a.button[href^="/console/webhooks/"]`), visible("#send-test"))
	mustContain(t, "details", text(t, ctx, "#traceContext"), "traceparent sent with each attempt")
	id := strings.TrimPrefix(browsertest.Get(t, ctx, chromedp.Location()), s.srv.URL+"/console/webhooks/")
	if w, err := s.store.Webhook(context.Background(), acct, uuid.MustParse(id)); err != nil || !w.TraceContext {
		t.Fatalf("stored webhook %+v, %v", w.DeliveryOptions, err)
	}

	// In Chinese: the edit form shows it checked; unchecking it saves.
	zh := newBrowser(t, "zh-CN,zh;q=0.9")
	do(t, zh, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		chromedp.Navigate(s.srv.URL+"/console/webhooks/"+id), visible("#traceContext"))
	mustContain(t, "zh details", text(t, zh, "#traceContext"), "每次推送携带 traceparent")
	do(t, zh, click("#disable"), visible("#edit"), click("#edit"), visible("#webhook-form"))
	mustContain(t, "zh label", text(t, zh, `label[for="traceContext"]`), "发送 W3C traceparent 请求头")
	if !checked(zh) {
		t.Fatal("the edit form does not show traceContext checked")
	}
	do(t, zh, click("#traceContext"), click("#save"), visible("#enable"))
	mustContain(t, "zh details after edit", text(t, zh, "#traceContext"), "不发送")
}
