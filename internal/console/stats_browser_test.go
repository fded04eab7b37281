package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
)

// statsReceiver answers events whose id starts with "fail" with a 500 and
// the rest with a 200, each after 30 ms.
func statsReceiver(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			EventID string `json:"eventId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&p)
		time.Sleep(30 * time.Millisecond)
		if strings.HasPrefix(p.EventID, "fail") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// waitStats waits until the webhook's statistics count n deliveries.
func waitStats(t *testing.T, s *stack, key, hook string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out struct {
			Totals struct {
				Deliveries int64 `json:"deliveries"`
			} `json:"totals"`
		}
		s.api("GET", "/v1/webhooks/"+hook+"/stats", key, nil, http.StatusOK, &out)
		if out.Totals.Deliveries >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the statistics count %d deliveries, want %d", out.Totals.Deliveries, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserStats: 8 real deliveries (6 answered 200, 2 given up on after
// 500s) drawn on the webhook's page and the account's overview: the
// totals, an SVG chart with succeeded and failed bars and a p95 line, its
// accessible name, the table with one row per hour (then per day), the
// window switch; on a phone the chart fits the screen with labels at a
// readable size; and the overview in Simplified Chinese.
func TestBrowserStats(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	rcv := statsReceiver(t)
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "Orders", "url": rcv.URL + "/hook",
		"eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"}}, http.StatusCreated, &hook)
	for i := range 8 {
		id := fmt.Sprint("ok-", i)
		if i >= 6 {
			id = fmt.Sprint("fail-", i)
		}
		s.api("POST", "/v1/events", key, map[string]any{"id": id, "type": "ENVELOPE_START", "triggerSource": "saas_page",
			"data": map[string]any{"envelopeId": id, "envelopeStatus": 1}}, http.StatusAccepted, nil)
	}
	waitStats(t, s, key, hook.ID, 8)

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "member")), visible("#open-stats"))
	details := s.srv.URL + "/console/webhooks/" + hook.ID
	do(t, ctx, chromedp.Navigate(details), visible("#stats-chart svg"))
	mustContain(t, "deliveries", text(t, ctx, "#total-deliveries"), "8")
	mustContain(t, "success rate", text(t, ctx, "#total-rate"), "75.0 %")
	if p95 := text(t, ctx, "#total-p95"); !strings.HasSuffix(p95, " ms") {
		t.Fatalf("p95 %q", p95)
	}
	counts := browsertest.Get(t, ctx, chromedp.Evaluate[[]int](`[
		document.querySelectorAll("#stats-chart rect.ok").length,
		document.querySelectorAll("#stats-chart rect.fail").length,
		document.querySelectorAll("#stats-chart path.p95").length,
		document.querySelectorAll("#stats-table tbody tr").length]`))
	if counts[0] < 1 || counts[1] < 1 || counts[2] != 1 || counts[3] != 24 {
		t.Fatalf("succeeded bars, failed bars, p95 lines, table rows: %v", counts)
	}
	name := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.querySelector("#chart-title").textContent + " / " +
		document.querySelector("#chart-desc").textContent`))
	mustContain(t, "chart's name", name, "last 24 hours")
	mustContain(t, "chart's description", name, "8 deliveries ended, 75.0 % of them succeeded")
	screenshot(t, ctx, "stats-details")

	do(t, ctx, click("#window-30d"), visible(`#stats[data-window="30d"]`))
	if rows := browsertest.Get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stats-table tbody tr").length`)); rows != 30 {
		t.Fatalf("30d table: %d rows", rows)
	}
	mustContain(t, "30d deliveries", text(t, ctx, "#total-deliveries"), "8")

	// The overview: all webhooks, then each one.
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/"), click("#open-stats"), visible("#webhook-stats"))
	row := text(t, ctx, "#webhook-stats tbody tr")
	for _, want := range []string{"Orders", "8", "75.0 %"} {
		mustContain(t, "webhook row", row, want)
	}
	screenshot(t, ctx, "stats")

	// A phone: nothing wider than the screen, the chart's labels about
	// 12 px and only every other period labelled.
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), visible("#stats-chart svg"))
	fit := browsertest.Get(t, ctx, chromedp.Evaluate[[]float64](`(() => {
		const svg = document.querySelector("#stats-chart svg").getBoundingClientRect();
		const label = document.querySelector("#stats-chart text:not(.minor)").getBoundingClientRect();
		const minor = document.querySelector("#stats-chart text.minor").getBoundingClientRect();
		return [document.documentElement.scrollWidth, window.innerWidth, svg.right, label.height, minor.height];
	})()`))
	if fit[0] > fit[1] || fit[2] > fit[1] || fit[3] < 10 || fit[4] != 0 {
		t.Fatalf("on a phone: page %vpx wide in %vpx, chart ends at %vpx, label %vpx high, minor label %vpx",
			fit[0], fit[1], fit[2], fit[3], fit[4])
	}
	screenshot(t, ctx, "stats-phone")

	// Simplified Chinese.
	zh := newBrowser(t, "zh-CN,zh;q=0.9")
	do(t, zh, chromedp.Navigate(s.link(key, "admin")), visible("#open-stats"), click("#open-stats"), visible("#webhook-stats"))
	mustContain(t, "zh title", text(t, zh, "h1"), "推送统计")
	mustContain(t, "zh legend", text(t, zh, "#stats-chart figcaption"), "延迟 p95（右轴）")
	screenshot(t, zh, "stats-zh")
}
