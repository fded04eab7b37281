package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

const temporalUI = "http://temporal-ui.test:8233"

// stack is the real thing on its own database: the API and the console on
// one httptest server, the dispatcher, and (withWorker) a delivery worker on
// the Temporal server named by TEMPORAL_ADDRESS.
type stack struct {
	t     *testing.T
	srv   *httptest.Server
	store *db.Store
}

func newStack(t *testing.T, withWorker bool) *stack {
	t.Helper()
	store := dbtest.NewStore(t)
	queue := "console-test-" + uuid.NewString()
	vars := map[string]string{
		"WEBHOOK_ALLOW_HTTP": "true", "EGRESS_ALLOW_CIDRS": "127.0.0.0/8", "TEMPORAL_TASK_QUEUE": queue,
		"DELIVERY_TIMEOUT": "2s", "RATE_LIMIT_REQUESTS_PER_SECOND": "0", "RATE_LIMIT_WEBHOOK_TESTS_PER_MINUTE": "0",
		"TEMPORAL_UI_URL": temporalUI,
	}
	box, _ := e2etest.NewBox(t)
	// Disabling signals workflows through the outbox: every stack has one,
	// on a lazy client when no worker runs (nothing is pending then).
	var tc client.Client
	if withWorker {
		tc = e2etest.Client(t)
	} else {
		addr := os.Getenv("TEMPORAL_ADDRESS")
		if addr == "" {
			addr = "127.0.0.1:7243"
		}
		var err error
		if tc, err = client.NewLazyClient(client.Options{HostPort: addr}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tc.Close)
	}
	srv := e2etest.ServeAPI(t, e2etest.NewApp(t, vars, store, tc, box, nil))
	if withWorker {
		e2etest.StartWorker(t, tc, store, box, queue, e2etest.FastSettings(), e2etest.Loopback)
	}
	return &stack{t: t, srv: srv, store: store}
}

// account creates an account on plan and returns its id and admin key.
func (s *stack) account(plan string) (uuid.UUID, string) {
	s.t.Helper()
	return e2etest.CreateAccount(s.t, s.store, plan)
}

// link mints a console link the way the product does: POST /v1/console/links.
func (s *stack) link(key, role string) string {
	s.t.Helper()
	var out struct {
		URL string `json:"url"`
	}
	s.api("POST", "/v1/console/links", key, map[string]any{"role": role, "ttlSeconds": 300}, http.StatusCreated, &out)
	// The test server's address, not CONSOLE_BASE_URL's default.
	u := s.srv.URL + out.URL[len("http://127.0.0.1:8080"):]
	return u
}

// api calls the REST API with a key and checks the status.
func (s *stack) api(method, path, key string, body any, want int, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

// receiver is a webhook receiver on 127.0.0.1 answering 200.
func receiver(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// newBrowser starts Debian's headless Chromium (browsertest.New) asking
// for pages in acceptLanguage (by default English).
func newBrowser(t *testing.T, acceptLanguage string) context.Context {
	t.Helper()
	ctx := browsertest.New(t, 1280, 900)
	if acceptLanguage == "" {
		acceptLanguage = "en-US,en;q=0.9"
	}
	do(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": acceptLanguage}})
		return err
	}))
	return ctx
}

// The console tests' short names for browsertest's steps: do runs steps,
// failing the test with the page's text when one fails; click is the
// mouse click that survives a re-rendered node.
var (
	do       = browsertest.Do
	click    = browsertest.Click
	waitText = browsertest.WaitText
	waitJS   = browsertest.WaitJS
)

func visible(sel string) chromedp.Action[chromedp.Void] {
	return browsertest.Visible(sel)
}
func keys(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(sel), v)
}
func setv(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), v)
}
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// text is the visible text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS(sel)))
}

func value(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return browsertest.Get(t, ctx, chromedp.Value(chromedp.CSS(sel)))
}

// exists reports whether sel matches an element now.
func exists(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	return browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshot saves the page as <name>.png in the folder CONSOLE_SCREENSHOTS
// names, when it is set (scripts/screenshots.sh).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, os.Getenv("CONSOLE_SCREENSHOTS"), name)
}

// formClient is a signed-in user's console over plain HTTP, without a
// browser: it fetches pages and posts forms, and keeps every page it got
// (so a test can search them all, e.g. for a secret).
type formClient struct {
	t     *testing.T
	s     *stack
	hc    *http.Client
	pages []string
}

// signIn opens a console link for role with the account's key.
func (s *stack) signIn(t *testing.T, key, role string) *formClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &formClient{t: t, s: s, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, err := c.hc.Get(s.link(key, role))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return c
}

// fetch GETs path, or POSTs form to it, and returns the status and page.
func (c *formClient) fetch(method, path string, form url.Values) (int, string) {
	c.t.Helper()
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = c.hc.Get(c.s.srv.URL + path)
	} else {
		res, err = c.hc.PostForm(c.s.srv.URL+path, form)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	c.pages = append(c.pages, string(b))
	return res.StatusCode, string(b)
}
