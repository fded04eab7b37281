package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
)

// page has a button that is re-rendered (replaced by a copy) the first
// time it is measured: between chromedp's query, which measures it to see
// it is visible, and the click. A click counts in #n.
const page = `<!doctype html><html><body>
<button id="go">Go</button><p id="n">0</p>
<script>
let clicks = 0;
const arm = b => b.addEventListener("click", () => { document.getElementById("n").textContent = String(++clicks); });
const first = document.getElementById("go");
arm(first);
let rendered = false;
Object.defineProperty(first, "offsetWidth", { get() {
	if (!rendered) { rendered = true; const fresh = first.cloneNode(true); arm(fresh); first.replaceWith(fresh); }
	return 50;
}});
</script></body></html>`

// TestClickRerenderedNode: chromedp's own click on such a button fails
// ("No node with given id": the flake of the console's browser tests);
// Click queries it again and clicks it once.
func TestClickRerenderedNode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	ctx := browsertest.New(t, 800, 600)

	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL))
	err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#go")))
	if err == nil || !strings.Contains(err.Error(), "node") {
		t.Fatalf("chromedp.Click on a re-rendered node: %v, want the stale node's error", err)
	}
	t.Logf("chromedp.Click: %v", err)

	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL), browsertest.Click("#go"), browsertest.WaitText("#n", "1"))
	if n := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("n").textContent`)); n != "1" {
		t.Fatalf("%s clicks, want 1", n)
	}
	browsertest.Do(t, ctx, browsertest.WaitJS(`document.querySelectorAll("#go").length === 1`),
		browsertest.WaitPageText("Go"))
}
