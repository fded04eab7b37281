package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserChannels: an admin adds a Slack channel, sends a test
// notice (the receiver gets it, the page shows the result), sees a field
// error for a bad URL, and reads the page in Chinese; the URL's token is
// never on a page.
func TestBrowserChannels(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	got := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		got <- body.Text
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(rcv.Close)

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#nav-channels"), click("#nav-channels"), visible("#channel-form"))
	do(t, ctx, keys("#ch-name", "On call"), setv("#ch-kind", "slack"), keys("#ch-url", "ftp://nope"), click("#add-channel"),
		waitText("#channel-form", "✗"))
	mustContain(t, "bad url", text(t, ctx, "#channel-form"), "must")
	do(t, ctx, setv("#ch-url", rcv.URL+"/services/T/B/tok-SECRET-77"), click("#add-channel"), visible("#channels"))
	mustContain(t, "channel list", text(t, ctx, "#channels"), "On call")
	do(t, ctx, click("#channels .send-test"), visible("#test-result"))
	mustContain(t, "test result", text(t, ctx, "#test-result"), "delivered")
	select {
	case m := <-got:
		if !strings.Contains(m, "Test notice from esign-webhooks") {
			t.Fatalf("the channel got %q", m)
		}
	default:
		t.Fatal("the channel got nothing")
	}
	mustContain(t, "last result", text(t, ctx, "#channels .last-result"), "delivered")
	screenshot(t, ctx, "channels")
	html := get(t, ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, "tok-SECRET-77") {
		t.Fatal("the channel's token is on the page")
	}
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/channels"), visible("#channels"), click("#lang-zh"), waitText("h1", "通知渠道"))
	mustContain(t, "zh-CN", text(t, ctx, "#channels"), "已送达")
	screenshot(t, ctx, "channels-zh")
}
