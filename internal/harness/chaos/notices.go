package chaos

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The notices scenario (make chaos, last; docs/fault-suite.md): health
// notices made under load — a webhook whose receiver never accepts fails
// past the thresholds (50/75/90 %) until it is disabled, each of its
// deliveries exhausting a short schedule of its own (a storm of
// DELIVERY_EXHAUSTED); another fails until warned, then recovers — go to
// notification channels: e-mail in English and in Chinese through a real
// SMTP server (Debian's aiosmtpd, its own process), a signed DingTalk robot
// and a Slack webhook (local receivers that check the request), while the
// worker and the API are SIGKILLed, PostgreSQL stops, the SMTP server is
// SIGKILLed and the Temporal dev server is SIGKILLed and restarted. Then
// the fault suite's check and noticesScenario.verify (CheckNotices).

// noticesOptions are the knobs of the notices scenario.
type noticesOptions struct {
	rate                           float64
	smtpPort                       int
	python                         string
	window, disableAfter, smtpDown time.Duration
}

// noticesConsole is CONSOLE_BASE_URL: every message links below it.
const noticesConsole = "https://console.chaos.test"

// noticesFrom is SMTP_FROM.
const noticesFrom = "notices@chaos.test"

// noticeKinds are the health notices the scenario makes.
var noticeKinds = []string{events.WebhookFailing, events.WebhookDisabled, events.WebhookRecovered, events.DeliveryExhausted}

// noticeChannel is one notification channel of the scenario.
type noticeChannel struct {
	Name, Kind, Lang string
	Types            []string
	Recipient        string    // e-mail
	sink             *chatSink // chat
}

// noticesScenario is one run's material.
type noticesScenario struct {
	o        options
	no       noticesOptions
	dir      string
	smtp     *smtptest.Server
	channels []*noticeChannel
	flapping atomic.Bool // the flapping receiver refuses while set

	mu          sync.Mutex
	hooks       map[string]string // receiver name → webhook id
	noticePosts map[string]int    // receiver name → POSTs of operational events
	smtpDown    []span
}

// notices runs the notices scenario on its own task queue.
func notices(ctx context.Context, o options, tmp *temporal, pg *postgres) (int, error) {
	sc, err := newNoticesScenario(o)
	if sc != nil {
		defer sc.close()
	}
	if err != nil {
		return 1, err
	}
	rep, err := Execute(ctx, sc.config(tmp, pg))
	rep.Scenario = "notices (health notices to e-mail, DingTalk and Slack under crashes)"
	return report(rep, err, o, "a notice lost, duplicated, outside its digest rule, wrongly written or sent through the webhook it is about (see the table)")
}

func newNoticesScenario(o options) (*noticesScenario, error) {
	sc := &noticesScenario{o: o, no: o.notices, dir: filepath.Join(o.dataDir, "notices"),
		hooks: map[string]string{}, noticePosts: map[string]int{}}
	sc.flapping.Store(true)
	if err := os.RemoveAll(sc.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sc.dir, 0o755); err != nil {
		return nil, err
	}
	sc.smtp = &smtptest.Server{Python: sc.no.python, Port: sc.no.smtpPort, Dir: sc.dir}
	if err := sc.smtp.Start(); err != nil {
		return sc, err
	}
	all := noticeKinds
	sc.channels = []*noticeChannel{
		{Name: "mail-en", Kind: "email", Lang: "en", Types: all, Recipient: "ops@example.com"},
		{Name: "mail-zh", Kind: "email", Lang: "zh-CN", Types: all, Recipient: "oncall-zh@example.com"},
		{Name: "dingtalk-zh", Kind: "dingtalk", Lang: "zh-CN",
			Types: []string{events.WebhookFailing, events.WebhookDisabled, events.WebhookRecovered}},
		{Name: "slack-en", Kind: "slack", Lang: "en", Types: []string{events.WebhookDisabled, events.WebhookRecovered}},
	}
	for _, c := range sc.channels {
		if c.Kind == "email" {
			continue
		}
		c.sink = &chatSink{kind: c.Kind, token: "chaos-" + c.Kind + "-" + randomHex(8)}
		if c.Kind == "dingtalk" {
			c.sink.secret = "SEC" + randomHex(16)
		}
		c.sink.endpoint = endpoint{name: "chat " + c.Name, handler: http.HandlerFunc(c.sink.serve)}
		if err := c.sink.Up(); err != nil {
			return sc, err
		}
	}
	logf("aiosmtpd on 127.0.0.1:%d (maildir %s); chat receivers up", sc.no.smtpPort, sc.smtp.Maildir())
	return sc, nil
}

func (sc *noticesScenario) close() {
	if sc.smtp != nil {
		sc.smtp.Stop()
	}
	for _, c := range sc.channels {
		if c.sink != nil {
			c.sink.Close()
		}
	}
}

func (sc *noticesScenario) config(tmp *temporal, pg *postgres) Config {
	o, no := sc.o, sc.no
	return Config{
		Bin: o.bin, DatabaseURL: o.dbURL, TemporalAddress: fmt.Sprintf("127.0.0.1:%d", o.temporalPort),
		TaskQueue: "chaos-notices", APIAddr: o.apiAddr, LogDir: sc.dir,
		RetrySchedule: o.retry, DeliveryTimeout: o.timeout,
		Env: []string{"NOTICE_DIGEST_WINDOW=" + no.window.String(), "CONSOLE_BASE_URL=" + noticesConsole,
			"HEALTH_DISABLE_AFTER=" + no.disableAfter.String(), "HEALTH_DISABLE_AFTER_EXHAUSTED=0",
			"SMTP_HOST=127.0.0.1", "SMTP_PORT=" + strconv.Itoa(no.smtpPort), "SMTP_TLS=none", "SMTP_FROM=" + noticesFrom},
		Split:     true,
		Receivers: sc.specs(),
		Rate:      no.rate, MaxEvents: o.maxEvents, GiveUp: 2 * time.Minute,
		Warmup: 10 * time.Second,
		Steps: []Step{
			settle(KillWorker(2*time.Second), 8*time.Second),
			settle(sc.flappingRecovers(), 5*time.Second),
			settle(KillAPI(2*time.Second), 8*time.Second),
			settle(pg.down(o.pgDown), 8*time.Second),
			settle(sc.smtpKilled(no.smtpDown), 5*time.Second),
			settle(tmp.restart(), 10*time.Second),
			settle(KillWorker(2*time.Second), 5*time.Second),
		},
		Tail:           5 * time.Second,
		ConvergeWithin: o.converge,
		Quiet:          5 * time.Second,
		Logf:           logf,
		Setup:          sc.setup,
		VerifyNotices:  sc.verify,
	}
}

// specs are the scenario's webhooks: steady, failing (never accepts; its
// deliveries exhaust a schedule of one retry), flapping (refuses until
// warned). All three also subscribe to the notices, which the engine
// must never deliver to the webhook they are about.
func (sc *noticesScenario) specs() []ReceiverSpec {
	sub := restclient.WebhookInput{EventTypes: noticeKinds}
	failing := sub
	failing.RetrySchedule = &schedule.Spec{Waits: []string{"1s"}}
	return []ReceiverSpec{
		{Name: "steady", Note: "subscribes to the notices too", Webhook: sub, Expect: sc.notAboutItself("steady")},
		{Name: "failing", FailPercent: 100, Note: "never accepts; its own schedule: one retry after 1 s; subscribes to the notices",
			Webhook: failing, Expect: sc.notAboutItself("failing")},
		{Name: "flapping", Refusing: &sc.flapping, Note: "refuses until warned (50 %), then accepts; subscribes to the notices",
			Webhook: sub, Expect: sc.notAboutItself("flapping")},
	}
}

// notAboutItself checks a POST: an operational event never about the
// webhook that gets it. It counts the operational events each got.
func (sc *noticesScenario) notAboutItself(name string) func(*http.Request, []byte) string {
	return func(_ *http.Request, body []byte) string {
		var p struct {
			Event string `json:"event"`
			Data  struct {
				WebhookID string `json:"webhookId"`
			} `json:"eventPayload"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return "not JSON"
		}
		if p.Event == EventType {
			return ""
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.noticePosts[name]++
		if p.Data.WebhookID != "" && p.Data.WebhookID == sc.hooks[name] {
			return p.Event + " about this very webhook"
		}
		return ""
	}
}

// setup notes the webhooks' ids and creates the channels, before anything
// is published (a notice is owed to the channels existing when its event is
// stored).
func (sc *noticesScenario) setup(ctx context.Context, r *Run) error {
	sc.mu.Lock()
	for _, rc := range r.Receivers {
		sc.hooks[rc.Name] = rc.WebhookID()
	}
	sc.mu.Unlock()
	c := &restclient.Client{BaseURL: r.Webhookd.APIURL, Key: r.Account.APIKey, HTTP: &http.Client{Timeout: 10 * time.Second}}
	for _, ch := range sc.channels {
		in := map[string]any{"name": ch.Name, "kind": ch.Kind, "language": ch.Lang, "noticeTypes": ch.Types}
		if ch.Kind == "email" {
			in["recipients"] = []string{ch.Recipient}
		} else {
			in["url"] = ch.sink.URL()
			if ch.sink.secret != "" {
				in["secret"] = ch.sink.secret
			}
		}
		if err := c.Do(ctx, http.MethodPost, "/v1/notification-channels", in, nil); err != nil {
			return fmt.Errorf("creating channel %s: %w", ch.Name, err)
		}
	}
	return nil
}

// flappingRecovers waits until the flapping webhook was warned (a
// WEBHOOK_FAILING event about it is stored), then lets its receiver accept.
func (sc *noticesScenario) flappingRecovers() Step {
	return Step{Name: "flapping receiver accepts once its webhook was warned", Do: func(ctx context.Context, r *Run) error {
		defer sc.flapping.Store(false)
		id := r.ByName["flapping"].WebhookID()
		deadline := time.Now().Add(2 * sc.no.disableAfter)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			var n int
			err := r.DB.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE account_id = $1 AND type = $2
				AND data ->> 'webhookId' = $3`, r.Account.AccountID, events.WebhookFailing, id).Scan(&n)
			if err == nil && n > 0 {
				return nil
			}
			sleep(ctx, 500*time.Millisecond)
		}
		return fmt.Errorf("the flapping webhook was not warned within %s", 2*sc.no.disableAfter)
	}}
}

// smtpKilled kill -9s the SMTP server and starts it again after d.
func (sc *noticesScenario) smtpKilled(d time.Duration) Step {
	return Step{Name: fmt.Sprintf("kill -9 the SMTP server, restart after %s", d), Do: func(ctx context.Context, r *Run) error {
		w := span{From: time.Now()}
		defer func() { w.To = time.Now(); sc.mu.Lock(); sc.smtpDown = append(sc.smtpDown, w); sc.mu.Unlock() }()
		if err := sc.smtp.Kill(); err != nil {
			return err
		}
		sleep(ctx, d)
		return sc.smtp.Start()
	}}
}

// chatSink is a team chat's endpoint: it checks each request as the
// platform documents it (DingTalk: the access token and the signature;
// Slack: text and a mrkdwn section block), answers as the platform does,
// and keeps each message it took.
type chatSink struct {
	kind, token, secret string
	endpoint

	mu       sync.Mutex
	msgs     []NoticeMessage
	refused  int
	problems []string
}

// URL is the channel's URL, the platform's token in it.
func (s *chatSink) URL() string {
	if s.kind == "dingtalk" {
		return "http://" + s.Addr() + "/robot/send?access_token=" + s.token
	}
	return "http://" + s.Addr() + "/services/T0CHAOS/B0CHAOS/" + s.token
}

func (s *chatSink) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	m, problem := s.parse(r, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if problem != "" {
		s.refused++
		s.problems = addExample(s.problems, problem)
		if s.kind == "dingtalk" {
			_, _ = w.Write([]byte(`{"errcode":310000,"errmsg":"` + problem + `"}`))
		} else {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
		}
		return
	}
	m.At = time.Now()
	s.msgs = append(s.msgs, m)
	if s.kind == "dingtalk" {
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// parse checks a request and reads its message; "" problem when right.
func (s *chatSink) parse(r *http.Request, raw []byte) (NoticeMessage, string) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return NoticeMessage{}, "not a JSON POST"
	}
	switch s.kind {
	case "dingtalk":
		q := r.URL.Query()
		ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
		mac := hmac.New(sha256.New, []byte(s.secret))
		mac.Write([]byte(q.Get("timestamp") + "\n" + s.secret))
		switch {
		case q.Get("access_token") != s.token:
			return NoticeMessage{}, "wrong access_token"
		case err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Hour:
			return NoticeMessage{}, "timestamp not within an hour"
		case q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)):
			return NoticeMessage{}, "sign not match"
		}
		var b struct {
			Msgtype  string `json:"msgtype"`
			Markdown struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"markdown"`
		}
		if json.Unmarshal(raw, &b) != nil || b.Msgtype != "markdown" || b.Markdown.Title == "" {
			return NoticeMessage{}, "not a markdown message"
		}
		m := markdownParts(b.Markdown.Text)
		if m.Title != b.Markdown.Title {
			return m, "markdown title and text disagree"
		}
		return m, ""
	default: // slack
		if !strings.HasSuffix(r.URL.Path, "/"+s.token) {
			return NoticeMessage{}, "wrong webhook path"
		}
		var b struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		}
		if json.Unmarshal(raw, &b) != nil || b.Text == "" || len(b.Blocks) != 1 || b.Blocks[0].Type != "section" ||
			b.Blocks[0].Text.Type != "mrkdwn" {
			return NoticeMessage{}, "not text with one mrkdwn section"
		}
		return plainParts(b.Text), ""
	}
}

func (s *chatSink) messages() []NoticeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]NoticeMessage(nil), s.msgs...)
}

func (s *chatSink) refusals() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused, append([]string(nil), s.problems...)
}

func (s *chatSink) last() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return time.Time{}
	}
	return s.msgs[len(s.msgs)-1].At
}

// plainParts reads a message written as plain text: the title, its
// lines, the link last.
func plainParts(text string) NoticeMessage {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	m := NoticeMessage{Title: lines[0]}
	rest := lines[1:]
	if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "http") {
		m.Link, rest = rest[n-1], rest[:n-1]
	}
	m.Lines = rest
	return m
}

// markdownParts reads a message written as the chats' Markdown: a bold
// title, paragraphs, the link last as [link](link).
func markdownParts(text string) NoticeMessage {
	paras := strings.Split(strings.TrimRight(text, "\n"), "\n\n")
	m := NoticeMessage{Title: strings.TrimSuffix(strings.TrimPrefix(paras[0], "**"), "**")}
	rest := paras[1:]
	if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "[") {
		l := rest[n-1]
		if i := strings.Index(l, "]("); i > 0 {
			m.Link = l[1:i]
		}
		rest = rest[:n-1]
	}
	m.Lines = rest
	return m
}
