package console_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
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
	html := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, "tok-SECRET-77") {
		t.Fatal("the channel's token is on the page")
	}
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/channels"), visible("#channels"), click("#lang-zh"), waitText("h1", "通知渠道"))
	mustContain(t, "zh-CN", text(t, ctx, "#channels"), "已送达")
	screenshot(t, ctx, "channels-zh")
}

// TestBrowserChannelEdit: an admin edits a signed DingTalk channel. The
// form comes filled in with the channel, its URL and signing secret never
// rendered (write-only: left empty, the stored ones keep working); a bad
// URL is a field error; a new secret replaces the stored one; the page
// reads in Chinese; and the audit log has each update with its
// before/after diff, the URL and secret only as changed.
func TestBrowserChannelEdit(t *testing.T) {
	s := newStack(t, false)
	acct, key := s.account("professional")
	const token, oldSecret, newSecret = "tok-SECRET-88", "SEC-keep-99", "SEC-new-11"
	secret := oldSecret
	got := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Markdown struct{ Title string } `json:"markdown"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		q := r.URL.Query()
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(q.Get("timestamp") + "\n" + secret))
		if q.Get("access_token") != token || q.Get("sign") != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			_, _ = w.Write([]byte(`{"errcode":310000,"errmsg":"sign not match"}`))
			return
		}
		got <- body.Markdown.Title
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	t.Cleanup(rcv.Close)
	var ch struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/notification-channels", key, map[string]any{"name": "Ops", "kind": "dingtalk", "language": "en",
		"url": rcv.URL + "/robot/send?access_token=" + token, "secret": oldSecret, "noticeTypes": []string{"WEBHOOK_DISABLED"}},
		http.StatusCreated, &ch)
	noSecrets := func(where string, html string) {
		t.Helper()
		for _, s := range []string{token, oldSecret, newSecret} {
			if strings.Contains(html, s) {
				t.Fatalf("%s shows a secret", where)
			}
		}
	}
	checked := func(ctx context.Context, sel string) bool {
		return browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`).checked`))
	}
	page := func(ctx context.Context) string {
		return browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	}
	testNotice := func(ctx context.Context, want string) {
		t.Helper()
		do(t, ctx, click("#channel-"+ch.ID+" .send-test"), visible("#test-result"))
		mustContain(t, "test result", text(t, ctx, "#test-result"), "✓")
		select {
		case title := <-got:
			mustContain(t, "test notice", title, want)
		default:
			t.Fatal("the robot got no signed test notice")
		}
	}

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#nav-channels"), click("#nav-channels"),
		click("#channel-"+ch.ID+" .edit-channel"), visible("#channel-edit"))
	if v := value(t, ctx, "#ch-name"); v != "Ops" || value(t, ctx, "#ch-language") != "en" || value(t, ctx, "#ch-url") != "" ||
		value(t, ctx, "#ch-secret") != "" || !checked(ctx, "#nt-WEBHOOK_DISABLED") || checked(ctx, "#nt-WEBHOOK_FAILING") ||
		!checked(ctx, "#ch-enabled") {
		t.Fatalf("the form is not filled in with the channel: name %q", v)
	}
	mustContain(t, "kind", text(t, ctx, "#ch-kind"), "DingTalk")
	mustContain(t, "secret state", text(t, ctx, "#secret-state"), "is stored")
	noSecrets("the edit page", page(ctx))
	screenshot(t, ctx, "channel-edit")

	// A bad URL: a field error, nothing saved, what was typed not echoed.
	do(t, ctx, keys("#ch-url", "ftp://nope.example"), click("#save-channel"), waitText("#channel-edit", "✗"))
	if value(t, ctx, "#ch-url") != "" || strings.Contains(page(ctx), "nope.example") {
		t.Fatal("the refused URL is rendered back")
	}
	// Name, language and kinds changed; URL and secret left empty: kept.
	do(t, ctx, setv("#ch-name", "Ops 值班"), setv("#ch-language", "zh-CN"), click("#nt-WEBHOOK_FAILING"),
		click("#save-channel"), visible("#channels"), waitText("body", "saved"))
	mustContain(t, "list", text(t, ctx, "#channel-"+ch.ID), "Ops 值班")
	mustContain(t, "list", text(t, ctx, "#channel-"+ch.ID), "WEBHOOK_FAILING")
	testNotice(ctx, "esign-webhooks 测试通知") // the stored URL and secret, in the new language

	rec := func(want int) db.AuditEntry {
		t.Helper()
		var ups []db.AuditEntry
		for _, r := range consoleRecords(t, s, acct) {
			if r.Action == "notification_channel.update" {
				ups = append(ups, r)
			}
			b, _ := json.Marshal(r)
			noSecrets("audit record "+r.Action, string(b))
		}
		if len(ups) != want {
			t.Fatalf("%d update records, want %d", len(ups), want)
		}
		return ups[0]
	}
	up := rec(1)
	var kinds []string
	_ = json.Unmarshal(up.Changes["noticeTypes"].After, &kinds)
	sort.Strings(kinds)
	if string(up.Changes["name"].Before) != `"Ops"` || string(up.Changes["name"].After) != `"Ops 值班"` ||
		string(up.Changes["language"].After) != `"zh-CN"` || strings.Join(kinds, ",") != "WEBHOOK_DISABLED,WEBHOOK_FAILING" {
		t.Fatalf("update record: %+v", up.Changes)
	}
	if _, ok := up.Changes["url"]; ok {
		t.Fatalf("the URL was left empty, yet recorded as changed: %+v", up.Changes)
	}
	if _, ok := up.Changes["secret"]; ok || up.ActorType != "console" || up.ResourceID != ch.ID {
		t.Fatalf("update record: %+v", up)
	}

	// A new signing secret replaces the stored one; the page is in Chinese.
	do(t, ctx, click("#channel-"+ch.ID+" .edit-channel"), visible("#channel-edit"), click("#lang-zh"), waitText("h1", "编辑通知渠道"))
	mustContain(t, "zh-CN", text(t, ctx, "#channel-edit"), "已保存加签密钥")
	screenshot(t, ctx, "channel-edit-zh")
	do(t, ctx, keys("#ch-secret", newSecret), click("#save-channel"), visible("#channels"))
	secret = newSecret
	testNotice(ctx, "esign-webhooks 测试通知")
	up = rec(2)
	if !up.Changes["secret"].Changed || len(up.Changes["secret"].Before) > 0 || len(up.Changes["secret"].After) > 0 || len(up.Changes) != 1 {
		t.Fatalf("secret update record: %+v", up.Changes)
	}
	do(t, ctx, chromedp.Navigate(s.srv.URL+"/console/channels"), visible("#channels"))
	noSecrets("the channels page", page(ctx))
}
