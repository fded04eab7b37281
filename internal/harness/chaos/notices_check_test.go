package chaos

import (
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// TestCheckNotices: the notices verdict counts a send that arrived once,
// twice, never, too soon after the previous message about its webhook, or
// in the wrong language, and an unsent notice with or without its failure
// on record.
func TestCheckNotices(t *testing.T) {
	const console = "https://console.test"
	hooks := map[string]string{"chaos a": "id-a"}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(21*time.Second)
	rows := []NoticeRow{
		{EventID: "e1", EventType: events.WebhookFailing, WebhookID: "id-a", SentAt: &t1, Attempts: 1},
		{EventID: "e2", EventType: events.DeliveryExhausted, WebhookID: "id-a", SentAt: &t1, Attempts: 3, LastError: "smtp down"},
		{EventID: "e3", EventType: events.WebhookDisabled, WebhookID: "id-a", SentAt: &t2, Attempts: 1},
	}
	msg := func(lang string, at time.Time, kinds ...string) NoticeMessage {
		ns := make([]notify.Notice, len(kinds))
		for i, k := range kinds {
			ns[i] = notify.Notice{Type: k, WebhookID: "id-a", WebhookName: "chaos a", ThresholdPercent: 50}
		}
		m := notify.Digest(lang, console, ns)
		return NoticeMessage{At: at, Title: m.Title, Lines: m.Lines, Link: m.Link}
	}
	digest := msg("en", t1, events.WebhookFailing, events.DeliveryExhausted)
	single := msg("en", t2, events.WebhookDisabled)
	check := func(rows []NoticeRow, msgs ...NoticeMessage) ChannelVerdict {
		t.Helper()
		vs := CheckNotices(NoticesInput{Webhooks: hooks, Console: console, Window: 20 * time.Second, Slack: time.Second,
			Channels: []NoticeChannelInput{{Name: "c", Kind: "email", Lang: "en", Due: len(rows), Rows: rows, Messages: msgs}}})
		return vs[0]
	}
	res := &NoticesResult{}
	if v := check(rows, digest, single); v.Once != 3 || v.Sends != 2 || v.Digests != 1 || v.Lost+v.Duplicated+v.Wrong+v.TooSoon != 0 ||
		v.RetriedAttempts != 2 {
		t.Fatalf("all well: %+v", v)
	} else if res.Channels = []ChannelVerdict{v}; res.Failed() {
		t.Fatal("all well, yet failed")
	}
	late := single
	late.At = t2.Add(time.Minute)
	if v := check(rows, digest, single, late); v.Duplicated != 1 || v.Once != 3 {
		t.Errorf("a send twice: %+v", v)
	}
	if v := check(rows, digest); v.Lost != 1 || v.Once != 2 {
		t.Errorf("a send never arrived: %+v", v)
	}
	soon := single
	soon.At = t1.Add(5 * time.Second)
	if v := check(rows, digest, soon); v.TooSoon != 1 {
		t.Errorf("too soon: %+v", v)
	}
	if v := check(rows, digest, msg("zh-CN", t2, events.WebhookDisabled)); v.Wrong != 1 || v.Lost != 1 {
		t.Errorf("in Chinese to an English channel: %+v", v)
	}
	other := single
	other.Link = console + "/console/webhooks/id-b"
	if v := check(rows, digest, other); v.Wrong != 1 {
		t.Errorf("a wrong link: %+v", v)
	}
	unsent := append(append([]NoticeRow(nil), rows...),
		NoticeRow{EventID: "e4", EventType: events.WebhookRecovered, WebhookID: "id-a", Attempts: 2, LastError: "refused"},
		NoticeRow{EventID: "e5", EventType: events.WebhookRecovered, WebhookID: "id-a"})
	if v := check(unsent, digest, single); v.FailedVisibly != 1 || v.Lost != 1 {
		t.Errorf("unsent: %+v", v)
	} else if res.Channels = []ChannelVerdict{v}; !res.Failed() {
		t.Error("a lost notice did not fail the run")
	}
}
