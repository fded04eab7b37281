package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// chatInbox is a local team chat: it checks a DingTalk robot's signature
// (when signed) and keeps the markdown of each message it accepts.
type chatInbox struct {
	mu     sync.Mutex
	got    []string
	secret string
	down   bool // answers 503, as a platform having an outage
}

func (c *chatInbox) reply(r e2etest.Request) e2etest.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return e2etest.Status(http.StatusServiceUnavailable)
	}
	var body struct {
		Msgtype  string `json:"msgtype"`
		Markdown struct {
			Title, Text string
		} `json:"markdown"`
		Blocks []struct {
			Text struct{ Text string } `json:"text"`
		} `json:"blocks"`
	}
	_ = json.Unmarshal(r.Body, &body)
	if c.secret != "" {
		q := queryOf(r.Query)
		m := hmac.New(sha256.New, []byte(c.secret))
		m.Write([]byte(q["timestamp"] + "\n" + c.secret))
		if q["sign"] != base64.StdEncoding.EncodeToString(m.Sum(nil)) || body.Msgtype != "markdown" {
			return e2etest.Reply{Status: 200, Body: `{"errcode":310000,"errmsg":"sign not match"}`}
		}
		c.got = append(c.got, body.Markdown.Title+"\n"+body.Markdown.Text)
		return e2etest.Reply{Status: 200, Body: `{"errcode":0,"errmsg":"ok"}`}
	}
	if len(body.Blocks) > 0 {
		c.got = append(c.got, body.Blocks[0].Text.Text)
	}
	return e2etest.Reply{Status: 200, Body: "ok"}
}

func (c *chatInbox) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// queryOf parses a raw query.
func queryOf(q string) map[string]string {
	out := map[string]string{}
	values, _ := url.ParseQuery(q)
	for k := range values {
		out[k] = values.Get(k)
	}
	return out
}

// TestNoticesReachChannels: a webhook disabled by its receiver (410 Gone)
// is told to a signed DingTalk robot in Chinese and to a Slack channel in
// English, each once, with the webhook's console link — never through the
// webhook itself; a storm of notices within the digest window is one
// message; a platform that is down gets the notice once it is back, each
// failure an attempt on record.
func TestNoticesReachChannels(t *testing.T) {
	e := e2etest.New(t, e2etest.Options{Vars: map[string]string{"NOTICE_DIGEST_WINDOW": "8s",
		"CONSOLE_BASE_URL": "https://esign.example.com"}})
	acct, key := e.Account("professional")
	ding := &chatInbox{secret: "SEC-ding"}
	slack := &chatInbox{}
	dingRcv, slackRcv := e2etest.NewReceiver(t, ding.reply), e2etest.NewReceiver(t, slack.reply)
	gone := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(http.StatusGone) })

	e.Do("POST", "/v1/notification-channels", key, map[string]any{"name": "钉钉", "kind": "dingtalk", "language": "zh-CN",
		"url": dingRcv.At("/robot/send?access_token=tok"), "secret": "SEC-ding", "noticeTypes": []string{"WEBHOOK_DISABLED"}}).Want(t, 201)
	var slackCh struct {
		ID string `json:"id"`
	}
	e.Do("POST", "/v1/notification-channels", key, map[string]any{"name": "slack", "kind": "slack",
		"url": slackRcv.At("/services/T/B/tok")}).Want(t, 201).Decode(t, &slackCh)
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{Name: "CRM sync", URL: gone.At("/esign")})

	e.Publish(key, e2etest.Event{})
	e2etest.Eventually(t, "the notice at both channels", func() bool { return len(ding.messages()) == 1 && len(slack.messages()) == 1 })
	link := "https://esign.example.com/console/webhooks/" + hook
	if m := ding.messages()[0]; !strings.Contains(m, "Webhook「CRM sync」已被停用") || !strings.Contains(m, link) ||
		!strings.Contains(m, "410 Gone") {
		t.Errorf("DingTalk got %q", m)
	}
	if m := slack.messages()[0]; !strings.Contains(m, `Webhook "CRM sync" was disabled`) || !strings.Contains(m, link) {
		t.Errorf("Slack got %q", m)
	}
	if n := gone.Count(); n != 1 {
		t.Errorf("the disabled webhook got %d requests, want its one delivery", n)
	}

	// A storm: two more notices about the webhook within the window of
	// the first make one digest at the window's end.
	for _, kind := range []string{events.WebhookFailing, events.DeliveryExhausted} {
		data := map[string]any{"webhookId": hook, "webhookName": "CRM sync", "url": gone.At("/esign"), "message": "storm",
			"thresholdPercent": 50, "deliveryId": uuid.NewString(), "eventId": "e", "eventType": "ENVELOPE_START"}
		if _, _, err := e.Store.PublishSystemEvent(context.Background(), db.SystemEvent{AccountID: uuid.MustParse(acct),
			ID: "storm-" + uuid.NewString(), Type: kind, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	e2etest.Eventually(t, "the digest", func() bool { return len(slack.messages()) == 2 })
	if m := slack.messages()[1]; !strings.Contains(m, `Webhook "CRM sync": 2 notices`) ||
		!strings.Contains(m, `• Webhook "CRM sync" is failing`) || !strings.Contains(m, "• A delivery to webhook") {
		t.Errorf("digest: %q", m)
	}
	if n := len(ding.messages()); n != 1 {
		t.Errorf("DingTalk chose WEBHOOK_DISABLED only, got %d messages", n)
	}

	// The platform is down: attempts fail, on record, until it is back.
	slack.mu.Lock()
	slack.down = true
	slack.mu.Unlock()
	if _, _, err := e.Store.PublishSystemEvent(context.Background(), db.SystemEvent{AccountID: uuid.MustParse(acct),
		ID: "outage-" + uuid.NewString(), Type: events.WebhookRecovered, Data: map[string]any{"webhookId": uuid.NewString(),
			"webhookName": "Other", "url": "https://x.example.com", "message": "m"}}); err != nil {
		t.Fatal(err)
	}
	var ch struct {
		LastResult struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"lastResult"`
		Notices []struct {
			EventType string `json:"eventType"`
			Attempts  int    `json:"attempts"`
			SentAt    *string
			LastError string `json:"lastError"`
		} `json:"notices"`
	}
	e2etest.Eventually(t, "a failed attempt on record", func() bool {
		e.Do("GET", "/v1/notification-channels/"+slackCh.ID, key, nil).Want(t, 200).Decode(t, &ch)
		return len(ch.Notices) > 0 && ch.Notices[0].Attempts > 0
	})
	if ch.LastResult.OK || !strings.Contains(ch.LastResult.Error, "503") || !strings.Contains(ch.Notices[0].LastError, "503") ||
		strings.Contains(ch.LastResult.Error, "tok") {
		t.Errorf("after a failed attempt: %+v", ch)
	}
	slack.mu.Lock()
	slack.down = false
	slack.mu.Unlock()
	e2etest.Eventually(t, "the notice once the platform is back", func() bool { return len(slack.messages()) == 3 })
	if m := slack.messages()[2]; !strings.Contains(m, `Webhook "Other" is delivering again`) {
		t.Errorf("after the outage: %q", m)
	}
}
