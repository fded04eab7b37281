package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
)

// TestNoticeMailDigest: a storm of failures of one webhook reaches two
// e-mail channels, English and Chinese, through a real SMTP server as one
// e-mail at once, then one digest when the window ends — not one e-mail
// per failure — each in its channel's language, with the webhook's console
// link, and the headers of a well-formed message (From, To, Subject, Date,
// a unique Message-ID, MIME 1.0, multipart/alternative, Content-Language,
// Auto-Submitted).
func TestNoticeMailDigest(t *testing.T) {
	const window = 15 * time.Second
	smtp := smtptest.Start(t, "", "")
	e := e2etest.New(t, e2etest.Options{Vars: map[string]string{"NOTICE_DIGEST_WINDOW": window.String(),
		"CONSOLE_BASE_URL": "https://esign.example.com", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": strconv.Itoa(smtp.Port),
		"SMTP_TLS": "none", "SMTP_FROM": "notices@esign.example.com"}})
	acct, key := e.Account("professional")
	for _, ch := range []map[string]any{
		{"name": "ops", "kind": "email", "language": "en", "recipients": []string{"ops@example.com"}},
		{"name": "值班", "kind": "email", "language": "zh-CN", "recipients": []string{"oncall@example.com"},
			"noticeTypes": []string{"DELIVERY_EXHAUSTED"}},
	} {
		e.Do("POST", "/v1/notification-channels", key, ch).Want(t, 201)
	}
	failing := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(http.StatusInternalServerError) })
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{Name: "CRM sync", URL: failing.At("/esign")})
	sent := func(n int) func() bool {
		return func() bool {
			var got int
			_ = e.Store.DB().Get(&got, `SELECT count(*) FROM channel_notices WHERE account_id = $1 AND sent_at IS NOT NULL
				AND event_type = 'DELIVERY_EXHAUSTED'`, acct)
			return got == n
		}
	}

	// The first failure for good: an e-mail to each channel at once.
	e.Publish(key, e2etest.Event{})
	e2etest.Eventually(t, "the first notice sent to both channels", sent(2))
	// The storm: four more, within the window of the first send.
	for range 4 {
		e.Publish(key, e2etest.Event{})
	}
	e2etest.Eventually(t, "the storm sent to both channels", sent(10))

	mails, err := smtp.Messages()
	if err != nil {
		t.Fatal(err)
	}
	link := "https://esign.example.com/console/webhooks/" + hook
	ids := map[string]bool{}
	for _, c := range []struct {
		to, lang, single, digest, bullet string
	}{
		{"<ops@example.com>", "en", `A delivery to webhook "CRM sync" failed for good`, `Webhook "CRM sync": 4 notices`,
			`• A delivery to webhook "CRM sync" failed for good`},
		{"<oncall@example.com>", "zh-CN", "Webhook「CRM sync」的一次推送最终失败", "Webhook「CRM sync」：4 条通知",
			"• Webhook「CRM sync」的一次推送最终失败"},
	} {
		var got []smtptest.Message
		for _, m := range mails {
			if m.Header.Get("To") == c.to {
				got = append(got, m)
			}
		}
		if len(got) != 2 {
			t.Fatalf("%s got %d e-mails for 5 failures, want 2 (one, then the window's digest)", c.to, len(got))
		}
		if gap := got[1].At.Sub(got[0].At); gap < window-time.Second {
			t.Errorf("%s: the digest came %s after the first e-mail, within the %s window", c.to, gap, window)
		}
		if got[0].Subject != c.single || got[1].Subject != c.digest || strings.Count(got[1].Text(), c.bullet) != 4 {
			t.Errorf("%s: subjects %q, %q; digest text:\n%s", c.to, got[0].Subject, got[1].Subject, got[1].Text())
		}
		for _, m := range got {
			h := m.Header
			id := h.Get("Message-Id")
			if _, err := h.Date(); err != nil || h.Get("From") != "<notices@esign.example.com>" || h.Get("Mime-Version") != "1.0" ||
				!strings.HasPrefix(id, "<") || !strings.Contains(id, "@") || ids[id] || h.Get("Content-Language") != c.lang ||
				h.Get("Auto-Submitted") != "auto-generated" || !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative;") ||
				m.Types() != "text/plain,text/html" {
				t.Errorf("%s %q: headers %v, parts %s", c.to, m.Subject, h, m.Types())
			}
			ids[id] = true
			if text := m.Text(); !strings.HasPrefix(text, m.Subject+"\n") || !strings.Contains(text, link) ||
				!strings.Contains(m.Part("text/html"), `href="`+link+`"`) {
				t.Errorf("%s %q: the text or HTML lacks the title or the console link:\n%s", c.to, m.Subject, text)
			}
		}
	}
	if len(mails) != 4 {
		t.Errorf("%d e-mails in all, want 4", len(mails))
	}
}
