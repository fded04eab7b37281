package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
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

// TestReadMaildir: e-mails sent by the notify package through a real
// aiosmtpd read back as the chats' messages, with no problem; a copy of
// one (the same Message-ID) and a file that is no message are flagged.
func TestReadMaildir(t *testing.T) {
	srv := smtptest.Start(t, "", "")
	s := &notify.Sender{SMTP: notify.SMTP{Host: "127.0.0.1", Port: srv.Port, TLS: notify.NoTLS, From: noticesFrom}}
	n := notify.Notice{Type: events.WebhookDisabled, WebhookID: "id-a", WebhookName: "chaos steady", URL: "http://127.0.0.1:9/x",
		Reason: "auto_disabled_failing"}
	for _, c := range []struct{ lang, to string }{{"en", "ops@example.com"}, {"zh-CN", "oncall-zh@example.com"}} {
		if err := s.Send(context.Background(), notify.Channel{Kind: notify.Email, Recipients: []string{c.to}},
			notify.Render(c.lang, noticesConsole, n)); err != nil {
			t.Fatal(err)
		}
	}
	b := readMaildir(srv.Files())
	if len(b.problems) != 0 || len(b.msgs) != 2 {
		t.Fatalf("%d messages, problems %v", len(b.msgs), b.problems)
	}
	for _, c := range []struct{ lang, to string }{{"en", "ops@example.com"}, {"zh-CN", "oncall-zh@example.com"}} {
		got := b.to(c.to, c.lang)
		want := notify.Render(c.lang, noticesConsole, n)
		if len(got) != 1 || got[0].Problem != "" || got[0].Title != want.Title || got[0].Link != want.Link || got[0].At.IsZero() {
			t.Errorf("%s: %+v", c.to, got)
		}
	}
	files := srv.Files()
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copied, broken := filepath.Join(dir, "copy"), filepath.Join(dir, "broken")
	if err := errors.Join(os.WriteFile(copied, raw, 0o644), os.WriteFile(broken, []byte("no header\r\n"), 0o644)); err != nil {
		t.Fatal(err)
	}
	b = readMaildir(append(files, copied, broken))
	if len(b.msgs) != 3 || b.msgs[2].Problem == "" || len(b.problems) != 1 {
		t.Errorf("a copy and a broken file: %+v, problems %v", b.msgs, b.problems)
	}
}
