package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
)

const (
	console = "https://esign.example.com"
	token   = "tok-SECRET-1234567890" // in each chat URL, as the platforms issue them
	secret  = "SEC-signing-secret"
)

var (
	fixed  = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	since  = fixed.Add(-90 * time.Minute)
	notice = notify.Notice{Type: "WEBHOOK_DISABLED", WebhookID: "5b0c7b9e-8a43-4d5e-9f1a-2c3d4e5f6a7b", WebhookName: "CRM sync",
		URL: "https://crm.example.com/esign", Reason: "auto_disabled_failing", ConsecutiveFailures: 42, ExhaustedDeliveries: 7,
		FailingSince: &since}
)

// platform is a local receiver that checks one platform's documented
// request shape and signature and answers as the platform does; check
// returns true when it answered a refusal itself.
type platform struct {
	*httptest.Server
	got chan map[string]any
}

func newPlatform(t *testing.T, check func(w http.ResponseWriter, r *http.Request, body map[string]any) bool) *platform {
	p := &platform{got: make(chan map[string]any, 4)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
			json.Unmarshal(raw, &body) != nil {
			t.Errorf("%s %s %q: %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if check(w, r, body) {
			return
		}
		p.got <- body
	}))
	t.Cleanup(p.Close)
	return p
}

func sender() *notify.Sender {
	return &notify.Sender{HTTP: http.DefaultClient, Now: func() time.Time { return fixed }}
}

func hmacB64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestChatPlatforms sends one notice to each platform's receiver and
// checks what arrived against the platform's documentation.
func TestChatPlatforms(t *testing.T) {
	msg := notify.Render("zh-CN", console, notice)
	link := console + "/console/webhooks/" + notice.WebhookID

	ding := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
		q := r.URL.Query()
		// https://open.dingtalk.com/document/robots/customize-robot-security-settings:
		// sign = base64(HmacSHA256(secret, timestamp + "\n" + secret)), URL-encoded, ms timestamp.
		want := hmacB64(secret, q.Get("timestamp")+"\n"+secret)
		if q.Get("access_token") != token || q.Get("timestamp") != strconv.FormatInt(fixed.UnixMilli(), 10) ||
			q.Get("sign") != want || !strings.Contains(r.URL.RawQuery, "sign="+url.QueryEscape(want)) {
			_, _ = w.Write([]byte(`{"errcode":310000,"errmsg":"sign not match"}`))
			return true
		}
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		return false
	})
	wecom := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
		if r.URL.Query().Get("key") != token {
			_, _ = w.Write([]byte(`{"errcode":93000,"errmsg":"invalid webhook url"}`))
			return true
		}
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		return false
	})
	feishu := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
		// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: sign =
		// base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")), seconds.
		ts, _ := body["timestamp"].(string)
		if !strings.HasSuffix(r.URL.Path, "/"+token) || ts != strconv.FormatInt(fixed.Unix(), 10) || body["sign"] != hmacB64(ts+"\n"+secret, "") {
			_, _ = w.Write([]byte(`{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`))
			return true
		}
		_, _ = w.Write([]byte(`{"code":0,"msg":"success","data":{}}`))
		return false
	})
	slack := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
		_, _ = w.Write([]byte("ok"))
		return false
	})
	teams := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
		w.WriteHeader(http.StatusAccepted)
		return false
	})

	s := sender()
	ctx := context.Background()
	for _, c := range []struct {
		ch    notify.Channel
		p     *platform
		check func(body map[string]any) bool
	}{
		{notify.Channel{Kind: notify.DingTalk, URL: ding.URL + "/robot/send?access_token=" + token, Secret: secret}, ding,
			func(b map[string]any) bool {
				text, _ := path(b, "markdown", "text").(string)
				return b["msgtype"] == "markdown" && path(b, "markdown", "title") == msg.Title && strings.Contains(text, link)
			}},
		{notify.Channel{Kind: notify.WeCom, URL: wecom.URL + "/cgi-bin/webhook/send?key=" + token}, wecom,
			func(b map[string]any) bool {
				text, _ := path(b, "markdown", "content").(string)
				return b["msgtype"] == "markdown" && strings.Contains(text, msg.Title) && strings.Contains(text, link)
			}},
		{notify.Channel{Kind: notify.Feishu, URL: feishu.URL + "/open-apis/bot/v2/hook/" + token, Secret: secret}, feishu,
			func(b map[string]any) bool {
				text, _ := path(b, "content", "text").(string)
				return b["msg_type"] == "text" && strings.HasPrefix(text, msg.Title) && strings.Contains(text, link)
			}},
		{notify.Channel{Kind: notify.Slack, URL: slack.URL + "/services/T0/B0/" + token}, slack,
			func(b map[string]any) bool {
				blocks, _ := b["blocks"].([]any)
				text, _ := b["text"].(string)
				return strings.HasPrefix(text, msg.Title) && len(blocks) == 1 &&
					strings.Contains(path(blocks[0].(map[string]any), "text", "text").(string), "<"+link+">")
			}},
		{notify.Channel{Kind: notify.Teams, URL: teams.URL + "/workflows/" + token + "/triggers/manual/paths/invoke"}, teams,
			func(b map[string]any) bool {
				atts, _ := b["attachments"].([]any)
				if b["type"] != "message" || len(atts) != 1 {
					return false
				}
				card, _ := atts[0].(map[string]any)
				content, _ := card["content"].(map[string]any)
				body, _ := content["body"].([]any)
				actions, _ := content["actions"].([]any)
				cu, hasURL := card["contentUrl"]
				return card["contentType"] == "application/vnd.microsoft.card.adaptive" && content["type"] == "AdaptiveCard" &&
					content["version"] == "1.2" && hasURL && cu == nil &&
					len(body) == len(msg.Lines)+1 && path(body[0].(map[string]any), "text") == msg.Title &&
					len(actions) == 1 && path(actions[0].(map[string]any), "url") == link
			}},
	} {
		if err := s.Send(ctx, c.ch, msg); err != nil {
			t.Errorf("%s: %v", c.ch.Kind, err)
			continue
		}
		select {
		case b := <-c.p.got:
			if !c.check(b) {
				t.Errorf("%s: the platform got %v", c.ch.Kind, b)
			}
		default:
			t.Errorf("%s: nothing arrived", c.ch.Kind)
		}
	}

	// A wrong signing secret is refused by the platform: an error, naming
	// the platform's code, never the URL's token or the secret.
	for _, ch := range []notify.Channel{
		{Kind: notify.DingTalk, URL: ding.URL + "/robot/send?access_token=" + token, Secret: "wrong"},
		{Kind: notify.Feishu, URL: feishu.URL + "/open-apis/bot/v2/hook/" + token, Secret: "wrong"},
		{Kind: notify.WeCom, URL: wecom.URL + "/cgi-bin/webhook/send?key=other"},
	} {
		err := s.Send(ctx, ch, msg)
		if err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), token) {
			t.Errorf("%s with a wrong secret: %v", ch.Kind, err)
		}
	}
}

// TestChatFailuresAreErrors: an endpoint down, answering 500 or not the
// platform's JSON is an error saying so, without the URL's token.
func TestChatFailuresAreErrors(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "500") {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("<html>not json</html>"))
	}))
	t.Cleanup(broken.Close)
	s := sender()
	for _, ch := range []notify.Channel{
		{Kind: notify.Slack, URL: downURL + "/services/" + token},
		{Kind: notify.Teams, URL: broken.URL + "/500/" + token},
		{Kind: notify.DingTalk, URL: broken.URL + "/robot/send?access_token=" + token},
		{Kind: notify.Feishu, URL: broken.URL + "/hook/" + token},
	} {
		err := s.Send(context.Background(), ch, notify.Test("en", console))
		if err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("%s: %v", ch.Kind, err)
		}
	}
}

// TestRenderLanguagesAndDigest: each notice kind in both languages, with
// its console link; a digest names every notice of its hour once.
func TestRenderLanguagesAndDigest(t *testing.T) {
	disableAt := fixed.Add(time.Hour)
	for _, kind := range []string{"WEBHOOK_FAILING", "WEBHOOK_DISABLED", "WEBHOOK_RECOVERED", "DELIVERY_EXHAUSTED",
		"WEBHOOK_CERTIFICATE_EXPIRING"} {
		n := notice
		n.Type, n.ThresholdPercent, n.DisableAt, n.DeliveryID = kind, 75, &disableAt, "d-1"
		en, zh := notify.Render("en", console, n), notify.Render("zh-CN", console, n)
		if !strings.Contains(en.Title, `"CRM sync"`) || !strings.Contains(zh.Title, "「CRM sync」") || en.Title == zh.Title ||
			en.Link != console+"/console/webhooks/"+n.WebhookID || zh.Link != en.Link {
			t.Errorf("%s: %q / %q (%s)", kind, en.Title, zh.Title, en.Link)
		}
		for _, l := range zh.Lines {
			if strings.Contains(l, "%!") {
				t.Errorf("%s zh-CN: %q", kind, l)
			}
		}
	}
	var storm []notify.Notice
	for _, kind := range []string{"WEBHOOK_FAILING", "DELIVERY_EXHAUSTED", "DELIVERY_EXHAUSTED", "WEBHOOK_DISABLED"} {
		n := notice
		n.Type = kind
		storm = append(storm, n)
	}
	d := notify.Digest("en", console, storm)
	if !strings.Contains(d.Title, "4 notices") || len(d.Lines) != 6 || !strings.HasPrefix(d.Lines[3], "• Webhook \"CRM sync\" was disabled") {
		t.Fatalf("digest: %q %q", d.Title, d.Lines)
	}
}

// received reads the one message the server stored.
func received(t *testing.T, srv *smtptest.Server) smtptest.Message {
	t.Helper()
	msgs, err := srv.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the maildir, want 1", len(msgs))
	}
	return msgs[0]
}

// TestEmail sends a notice in each language through a real SMTP server,
// in the clear and with STARTTLS, and reads the message it stored.
func TestEmail(t *testing.T) {
	ca := testpki.NewCA(t, "smtp test CA")
	pair := ca.Server(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.PEM))
	for _, c := range []struct {
		lang, mode string
		pair       *testpki.Pair
	}{{"en", notify.NoTLS, nil}, {"zh-CN", notify.StartTLS, &pair}} {
		var cert, key string
		if c.pair != nil {
			cert, key = c.pair.CertPEM, c.pair.KeyPEM
		}
		srv := smtptest.Start(t, cert, key)
		s := sender()
		s.SMTP = notify.SMTP{Host: "127.0.0.1", Port: srv.Port, TLS: c.mode, From: "notices@esign.example.com",
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
		msg := notify.Render(c.lang, console, notice)
		to := []string{"ops@example.com", "oncall@example.com"}
		if err := s.Send(context.Background(), notify.Channel{Kind: notify.Email, Recipients: to}, msg); err != nil {
			t.Fatalf("%s over %s: %v", c.lang, c.mode, err)
		}
		m := received(t, srv)
		if m.Subject != msg.Title || m.Header.Get("From") != "<notices@esign.example.com>" ||
			!strings.Contains(m.Header.Get("To"), "ops@example.com") || !strings.Contains(m.Header.Get("To"), "oncall@example.com") ||
			m.Header.Get("Content-Language") != c.lang || m.Header.Get("Auto-Submitted") != "auto-generated" ||
			m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
			t.Errorf("%s headers: subject %q, %v", c.lang, m.Subject, m.Header)
		}
		if _, _, err := mime.ParseMediaType(m.Header.Get("Content-Type")); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Parts {
			if !strings.Contains(p.Body, msg.Lines[0]) || !strings.Contains(p.Body, msg.Link) {
				t.Errorf("%s part %s lacks the text or the link: %s", c.lang, p.Type, p.Body)
			}
		}
		if m.Types() != "text/plain,text/html" {
			t.Errorf("%s parts: %v", c.lang, m.Types())
		}
	}
}

// TestEmailFailures: no server configured, a server down, and STARTTLS
// required of a server without it are errors, not panics or hangs.
func TestEmailFailures(t *testing.T) {
	srv := smtptest.Start(t, "", "")
	ch := notify.Channel{Kind: notify.Email, Recipients: []string{"ops@example.com"}}
	msg := notify.Test("en", console)
	s := sender()
	if err := s.Send(context.Background(), ch, msg); err != notify.ErrNoSMTP {
		t.Errorf("no SMTP_HOST: %v", err)
	}
	s.SMTP = notify.SMTP{Host: "127.0.0.1", Port: 1, TLS: notify.NoTLS, From: "n@example.com"}
	if err := s.Send(context.Background(), ch, msg); err == nil {
		t.Error("a server down: no error")
	}
	s.SMTP = notify.SMTP{Host: "127.0.0.1", Port: srv.Port, TLS: notify.StartTLS, From: "n@example.com", Password: "pw-SECRET"}
	if err := s.Send(context.Background(), ch, msg); err == nil || strings.Contains(err.Error(), "pw-SECRET") {
		t.Errorf("STARTTLS required of a server without it: %v", err)
	}
}

// TestChatDigestFits: a storm's digest of 200 notices is cut to what each
// platform takes — WeCom's markdown.content at most 4096 bytes, a Slack
// section's text at most 3000 characters, a Teams message at most 28 KB —
// and at most 30 notices listed one by one, the rest counted; the link is
// kept. The local platforms refuse a longer message as the real ones do.
func TestChatDigestFits(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b struct {
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
			Blocks []struct {
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		}
		_ = json.Unmarshal(raw, &b)
		switch {
		case strings.HasPrefix(r.URL.Path, "/wecom"):
			if len(b.Markdown.Content) > 4096 {
				_, _ = w.Write([]byte(`{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`))
				return
			}
			got = append(got, b.Markdown.Content)
			_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		case strings.HasPrefix(r.URL.Path, "/slack"):
			if len(b.Blocks) != 1 || utf8.RuneCountInString(b.Blocks[0].Text.Text) > 3000 {
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			}
			got = append(got, b.Blocks[0].Text.Text)
			_, _ = w.Write([]byte("ok"))
		default: // teams
			if len(raw) > 28*1024 {
				http.Error(w, "card too large", http.StatusRequestEntityTooLarge)
				return
			}
			got = append(got, string(raw))
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(srv.Close)
	storm := make([]notify.Notice, 200)
	for i := range storm {
		storm[i] = notice
		storm[i].Type = "DELIVERY_EXHAUSTED"
	}
	link := console + "/console/webhooks/" + notice.WebhookID
	for _, c := range []struct {
		kind, path, lang, more string
	}{
		{notify.WeCom, "/wecom?key=" + token, "zh-CN", "另有"},
		{notify.Slack, "/slack/" + token, "en", "more"},
		{notify.Teams, "/teams/" + token, "en", "more"},
	} {
		got = nil
		if err := sender().Send(context.Background(), notify.Channel{Kind: c.kind, URL: srv.URL + c.path},
			notify.Digest(c.lang, console, storm)); err != nil {
			t.Errorf("%s: %v", c.kind, err)
			continue
		}
		if len(got) != 1 || !strings.Contains(got[0], c.more) || !strings.Contains(got[0], link) ||
			strings.Count(got[0], "• ") > 30 || strings.Count(got[0], "• ") < 5 {
			t.Errorf("%s got %d messages: %.300q", c.kind, len(got), got)
		}
	}
}
