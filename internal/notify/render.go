package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Notice is the data of an operational event about a webhook (the
// engine's health notices, events.SystemCatalogue), as it is stored.
type Notice struct {
	Type                string     `json:"-"`
	WebhookID           string     `json:"webhookId"`
	WebhookName         string     `json:"webhookName"`
	URL                 string     `json:"url"`
	Reason              string     `json:"reason,omitempty"`
	Message             string     `json:"message"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	ExhaustedDeliveries int        `json:"exhaustedDeliveries"`
	FailingSince        *time.Time `json:"failingSince,omitempty"`
	ThresholdPercent    int        `json:"thresholdPercent,omitempty"`
	DisableAt           *time.Time `json:"disableAt,omitempty"`
	DeliveryID          string     `json:"deliveryId,omitempty"`
	EventID             string     `json:"eventId,omitempty"`
	EventType           string     `json:"eventType,omitempty"`
}

// Languages a channel can be written in.
var Languages = []string{"en", "zh-CN"}

// texts are each language's words; %s and %d are filled in order.
var texts = map[string]map[string]string{
	"en": {
		"WEBHOOK_FAILING":              "Webhook %q is failing (%d %% of the way to being disabled)",
		"WEBHOOK_DISABLED":             "Webhook %q was disabled",
		"WEBHOOK_RECOVERED":            "Webhook %q is delivering again",
		"DELIVERY_EXHAUSTED":           "A delivery to webhook %q failed for good",
		"WEBHOOK_CERTIFICATE_EXPIRING": "The client certificate of webhook %q expires soon",
		"digest":                       "Webhook %q: %d notices",
		"test":                         "Test notice from esign-webhooks",
		"test.body":                    "This channel is set up: notices about your webhooks will arrive here.",
		"url":                          "Callback URL: %s",
		"failures":                     "Failures in a row: %d; deliveries that spent their retries: %d.",
		"since":                        "Failing since %s.",
		"disableAt":                    "It will be disabled at %s if it keeps failing.",
		"reason.auto_disabled_failing": "Reason: it kept failing past the threshold.",
		"reason.receiver_gone":         "Reason: the receiver answered 410 Gone.",
		"delivery":                     "Delivery %s of event %s (%s).",
		"open":                         "Open the webhook in the console:",
		"more":                         "… and %d more",
	},
	"zh-CN": {
		"WEBHOOK_FAILING":              "Webhook「%s」推送持续失败（已达停用阈值的 %d%%）",
		"WEBHOOK_DISABLED":             "Webhook「%s」已被停用",
		"WEBHOOK_RECOVERED":            "Webhook「%s」已恢复推送",
		"DELIVERY_EXHAUSTED":           "Webhook「%s」的一次推送最终失败",
		"WEBHOOK_CERTIFICATE_EXPIRING": "Webhook「%s」的客户端证书即将到期",
		"digest":                       "Webhook「%s」：%d 条通知",
		"test":                         "esign-webhooks 测试通知",
		"test.body":                    "此通知渠道已配置成功：关于您的 Webhook 的通知将发送到这里。",
		"url":                          "回调地址：%s",
		"failures":                     "连续失败次数：%d；重试用尽的推送：%d。",
		"since":                        "自 %s 起持续失败。",
		"disableAt":                    "如持续失败，将于 %s 停用。",
		"reason.auto_disabled_failing": "原因：失败时间超过停用阈值。",
		"reason.receiver_gone":         "原因：接收方返回 410 Gone。",
		"delivery":                     "事件 %[2]s（%[3]s）的推送 %[1]s。",
		"open":                         "在控制台中查看该 Webhook：",
		"more":                         "…… 另有 %d 条",
	},
}

func tr(lang, key string, args ...any) string {
	t, ok := texts[lang][key]
	if !ok {
		t = texts["en"][key]
	}
	return fmt.Sprintf(t, args...)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// WebhookLink is the console page of a webhook under consoleBase
// (CONSOLE_BASE_URL).
func WebhookLink(consoleBase, webhookID string) string {
	return strings.TrimSuffix(consoleBase, "/") + "/console/webhooks/" + url.PathEscape(webhookID)
}

// Render writes notice n in lang, linking to its webhook's console page.
func Render(lang, consoleBase string, n Notice) Message {
	m := Message{Lang: lang, Link: WebhookLink(consoleBase, n.WebhookID)}
	switch n.Type {
	case "WEBHOOK_FAILING":
		m.Title = tr(lang, n.Type, n.WebhookName, n.ThresholdPercent)
	default:
		m.Title = tr(lang, n.Type, n.WebhookName)
	}
	m.Lines = append(m.Lines, tr(lang, "url", n.URL))
	if n.Reason != "" {
		m.Lines = append(m.Lines, tr(lang, "reason."+n.Reason))
	}
	if n.FailingSince != nil && n.Type != "WEBHOOK_RECOVERED" {
		m.Lines = append(m.Lines, tr(lang, "since", stamp(*n.FailingSince)))
	}
	if n.Type == "WEBHOOK_FAILING" || n.Type == "WEBHOOK_DISABLED" {
		m.Lines = append(m.Lines, tr(lang, "failures", n.ConsecutiveFailures, n.ExhaustedDeliveries))
	}
	if n.DisableAt != nil {
		m.Lines = append(m.Lines, tr(lang, "disableAt", stamp(*n.DisableAt)))
	}
	if n.DeliveryID != "" {
		m.Lines = append(m.Lines, tr(lang, "delivery", n.DeliveryID, n.EventID, n.EventType))
	}
	m.Lines = append(m.Lines, tr(lang, "open"))
	return m
}

// bullet starts each notice's line in a digest.
const bullet = "• "

// Digest writes several notices about one webhook as one message: the
// storm of an hour in one.
func Digest(lang, consoleBase string, ns []Notice) Message {
	if len(ns) == 1 {
		return Render(lang, consoleBase, ns[0])
	}
	last := ns[len(ns)-1]
	m := Message{Lang: lang, Link: WebhookLink(consoleBase, last.WebhookID),
		Title: tr(lang, "digest", last.WebhookName, len(ns))}
	for _, n := range ns {
		m.Lines = append(m.Lines, bullet+Render(lang, consoleBase, n).Title)
	}
	m.Lines = append(m.Lines, tr(lang, "url", last.URL), tr(lang, "open"))
	return m
}

// Test is the "send test notice" message.
func Test(lang, consoleBase string) Message {
	return Message{Lang: lang, Title: tr(lang, "test"), Lines: []string{tr(lang, "test.body")},
		Link: strings.TrimSuffix(consoleBase, "/") + "/console/"}
}
