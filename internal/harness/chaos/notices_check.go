package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
)

// NoticeMessage is one message a channel got: its title, lines and link,
// when it arrived, and what is wrong with it ("" for nothing: its shape,
// signature or headers were checked where it arrived).
type NoticeMessage struct {
	At      time.Time `json:"at"`
	Title   string    `json:"title"`
	Lines   []string  `json:"-"`
	Link    string    `json:"-"`
	Problem string    `json:"problem,omitempty"`
}

// NoticeRow is one channel_notices row: a notice owed to a channel.
type NoticeRow struct {
	Channel, EventID, EventType, WebhookID string
	SentAt                                 *time.Time
	Attempts                               int
	LastError                              string
}

// NoticesInput is everything CheckNotices compares, per channel.
type NoticesInput struct {
	Channels []NoticeChannelInput
	// Webhooks maps a webhook's name (as messages write it) to its id.
	Webhooks map[string]string
	Console  string
	Window   time.Duration
	// Slack is how much sooner than Window after the previous message a
	// message may arrive (clocks, file times).
	Slack time.Duration
}

// NoticeChannelInput is one channel: its language, the kinds it chose,
// the notices the database owes it (Due: one per operational event of a
// chosen kind), the rows, and the messages it got.
type NoticeChannelInput struct {
	Name, Kind, Lang string
	Due              int
	Rows             []NoticeRow
	Messages         []NoticeMessage
}

// NoticesResult is the notices scenario's verdict.
type NoticesResult struct {
	WindowS     float64          `json:"digestWindowS"`
	Channels    []ChannelVerdict `json:"channels"`
	NoticePosts map[string]int   `json:"operationalEventPostsPerWebhook"`
	// AboutItself: operational events a webhook got about itself (must be 0).
	AboutItself int            `json:"aboutItself"`
	AboutEx     []string       `json:"aboutItselfExamples,omitempty"`
	SMTPDown    []span         `json:"smtpDown"`
	Events      map[string]int `json:"operationalEvents"`
	Problems    []string       `json:"problems,omitempty"`
}

// ChannelVerdict is what one channel got against what it was owed.
type ChannelVerdict struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Lang string `json:"language"`
	// Due: owed per the events; Rows: channel_notices rows (must equal Due).
	Due  int `json:"due"`
	Rows int `json:"rows"`
	// Sent: rows with sent_at; Sends: distinct sends (messages the log says
	// went); Messages: messages the channel got; Digests: those with more
	// than one notice.
	Sent     int `json:"sent"`
	Sends    int `json:"sends"`
	Messages int `json:"messages"`
	Digests  int `json:"digests"`
	// Once: notices that arrived in exactly one message matching their send.
	Once int `json:"once"`
	// Duplicated: notices of a send that arrived in more than one message.
	Duplicated int `json:"duplicated"`
	// Lost: sent per the log but in no message, or unsent without a failure
	// on record.
	Lost int `json:"lost"`
	// FailedVisibly: unsent, the failed attempts on record.
	FailedVisibly int `json:"failedVisibly"`
	// RetriedAttempts: attempts beyond each notice's first (failures on record).
	RetriedAttempts int `json:"retriedAttempts"`
	// Wrong: messages in another language, without the webhook's link, not
	// explained by a send, or refused by the receiver's checks.
	Wrong int `json:"wrong"`
	// TooSoon: messages about a webhook less than the window after the
	// previous one (the digest rule broken).
	TooSoon int `json:"tooSoon"`
	// MinGapS is the shortest time between two messages about one webhook.
	MinGapS  float64  `json:"minGapS"`
	Examples []string `json:"examples,omitempty"`
}

// Failed says whether the run must fail.
func (r *NoticesResult) Failed() bool {
	if len(r.Problems) > 0 || r.AboutItself > 0 {
		return true
	}
	for _, c := range r.Channels {
		if c.Rows != c.Due || c.Lost > 0 || c.Duplicated > 0 || c.Wrong > 0 || c.TooSoon > 0 || c.Sent+c.FailedVisibly != c.Rows || c.Sent == 0 {
			return true
		}
	}
	return false
}

// titleIndex maps each title a notice about one of the webhooks can have,
// in one language, to its kind and webhook name.
type titleIndex map[string][2]string

func newTitleIndex(lang, console string, names []string) titleIndex {
	ix := titleIndex{}
	for _, name := range names {
		for _, kind := range noticeKinds {
			for _, pct := range []int{0, 50, 75, 90} {
				n := notify.Notice{Type: kind, WebhookName: name, ThresholdPercent: pct}
				ix[notify.Render(lang, console, n).Title] = [2]string{kind, name}
			}
		}
	}
	return ix
}

// read is what a message carries: the webhook's name and the kinds of its
// notices, or why it cannot be read as a notice in lang.
func (ix titleIndex) read(lang, console string, webhooks map[string]string, m NoticeMessage) (name string, kinds []string, problem string) {
	if k, ok := ix[m.Title]; ok {
		name, kinds = k[1], []string{k[0]}
	} else {
		for _, l := range m.Lines {
			t, ok := strings.CutPrefix(l, "• ")
			if !ok {
				continue
			}
			k, ok := ix[t]
			if !ok || (name != "" && k[1] != name) {
				return "", nil, fmt.Sprintf("digest line %q is no notice in %s", short(l, 80), lang)
			}
			name, kinds = k[1], append(kinds, k[0])
		}
		if name == "" {
			return "", nil, fmt.Sprintf("title %q is no notice in %s", short(m.Title, 80), lang)
		}
		ns := make([]notify.Notice, len(kinds))
		for i := range ns {
			ns[i] = notify.Notice{Type: kinds[i], WebhookName: name}
		}
		if want := notify.Digest(lang, console, ns).Title; m.Title != want {
			return "", nil, fmt.Sprintf("digest title %q, want %q", m.Title, want)
		}
	}
	if want := notify.WebhookLink(console, webhooks[name]); m.Link != want {
		return "", nil, fmt.Sprintf("link %q, want %q", m.Link, want)
	}
	sort.Strings(kinds)
	return name, kinds, ""
}

// CheckNotices compares, per channel, the notices the log says were sent
// (grouped by send: the rows of one send share their sent_at) with the
// messages the channel got: each send must arrive as exactly one message
// carrying the same notices, in the channel's language, linking to the
// webhook's console page; messages about one webhook at least the digest
// window apart; every owed notice sent, or its failed attempts on record.
func CheckNotices(in NoticesInput) []ChannelVerdict {
	names := make([]string, 0, len(in.Webhooks))
	for n := range in.Webhooks {
		names = append(names, n)
	}
	idWebhook := map[string]string{}
	for n, id := range in.Webhooks {
		idWebhook[id] = n
	}
	var out []ChannelVerdict
	for _, ch := range in.Channels {
		ix := newTitleIndex(ch.Lang, in.Console, names)
		v := ChannelVerdict{Name: ch.Name, Kind: ch.Kind, Lang: ch.Lang, Due: ch.Due, Rows: len(ch.Rows), Messages: len(ch.Messages), MinGapS: -1}
		ex := func(s string) { v.Examples = addExample(v.Examples, s) }
		// The log's sends: webhook → signature (sorted kinds) → count.
		type send struct {
			hook string
			at   time.Time
		}
		sends := map[send][]string{}
		for _, r := range ch.Rows {
			switch {
			case r.SentAt != nil:
				v.Sent++
				v.RetriedAttempts += max(r.Attempts-1, 0)
				s := send{idWebhook[r.WebhookID], *r.SentAt}
				sends[s] = append(sends[s], r.EventType)
			case r.Attempts > 0 && r.LastError != "":
				v.FailedVisibly++
				v.RetriedAttempts += r.Attempts - 1
			default:
				v.Lost++
				ex("notice of event " + r.EventID + " unsent, no failure on record")
			}
		}
		want := map[string]int{} // hook + signature → sends
		size := map[string]int{}
		for s, kinds := range sends {
			sort.Strings(kinds)
			key := s.hook + "|" + strings.Join(kinds, ",")
			want[key]++
			size[key] = len(kinds)
		}
		v.Sends = len(sends)
		// The messages, read.
		got := map[string]int{}
		times := map[string][]time.Time{}
		for _, m := range ch.Messages {
			if m.Problem != "" {
				v.Wrong++
				ex(m.Problem)
				continue
			}
			name, kinds, problem := ix.read(ch.Lang, in.Console, in.Webhooks, m)
			if problem != "" {
				v.Wrong++
				ex(problem)
				continue
			}
			if len(kinds) > 1 {
				v.Digests++
			}
			got[name+"|"+strings.Join(kinds, ",")]++
			times[name] = append(times[name], m.At)
		}
		for key, n := range want {
			g := got[key]
			v.Once += min(g, n) * size[key]
			if g < n {
				v.Lost += (n - g) * size[key]
				ex(fmt.Sprintf("%d send(s) of %s never arrived", n-g, key))
			}
			if g > n {
				v.Duplicated += (g - n) * size[key]
				ex(fmt.Sprintf("%s arrived %d times for %d send(s)", key, g, n))
			}
		}
		for key, g := range got {
			if want[key] == 0 {
				v.Wrong += g
				ex(fmt.Sprintf("%d message(s) %s that no send explains", g, key))
			}
		}
		for name, ts := range times {
			slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
			for i := 1; i < len(ts); i++ {
				gap := ts[i].Sub(ts[i-1])
				if v.MinGapS < 0 || gap.Seconds() < v.MinGapS {
					v.MinGapS = round1(gap.Seconds())
				}
				if gap < in.Window-in.Slack {
					v.TooSoon++
					ex(fmt.Sprintf("two messages about %s %.1f s apart", name, gap.Seconds()))
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// verify waits until every owed notice is sent (or its failure is on
// record and the channels are quiet), then checks them (CheckNotices) and
// the webhooks' POSTs (never a notice about the webhook itself).
func (sc *noticesScenario) verify(ctx context.Context, r *Run) *NoticesResult {
	res := &NoticesResult{WindowS: sc.no.window.Seconds(), Events: map[string]int{}}
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	sc.waitSent(ctx, r)
	rows, err := loadNoticeRows(ctx, r.DB, r.Account.AccountID)
	if err != nil {
		problem("reading channel_notices: %v", err)
		return res
	}
	due, err := sc.loadDue(ctx, r.DB, r.Account.AccountID, res.Events)
	if err != nil {
		problem("reading the operational events: %v", err)
	}
	mail := readMaildir(sc.smtp.Files())
	in := NoticesInput{Webhooks: map[string]string{}, Console: noticesConsole, Window: sc.no.window, Slack: time.Second}
	for _, rc := range r.Receivers {
		in.Webhooks["chaos "+rc.Name] = rc.WebhookID()
	}
	for _, ch := range sc.channels {
		ci := NoticeChannelInput{Name: ch.Name, Kind: ch.Kind, Lang: ch.Lang, Due: due[ch.Name], Rows: rows[ch.Name]}
		if ch.sink != nil {
			ci.Messages = ch.sink.messages()
			if n, ex := ch.sink.refusals(); n > 0 {
				problem("%s refused %d requests: %s", ch.Name, n, strings.Join(ex, "; "))
			}
		} else {
			ci.Messages = mail.to(ch.Recipient, ch.Lang)
		}
		in.Channels = append(in.Channels, ci)
	}
	if len(mail.problems) > 0 {
		problem("e-mail: %s", strings.Join(mail.problems, "; "))
	}
	res.Channels = CheckNotices(in)
	sc.mu.Lock()
	res.NoticePosts = sc.noticePosts
	res.SMTPDown = sc.smtpDown
	sc.mu.Unlock()
	for _, rc := range r.Receivers {
		n, ex := rc.Mismatches()
		res.AboutItself += n
		res.AboutEx = append(res.AboutEx, ex...)
	}
	return res
}

// waitSent waits until no owed notice is unsent (bar those whose failure
// is on record) and the channels have been quiet for 5 s.
func (sc *noticesScenario) waitSent(ctx context.Context, r *Run) {
	lastLog := time.Now()
	for ctx.Err() == nil {
		var unsent int
		err := r.DB.QueryRowContext(ctx, `SELECT count(*) FROM channel_notices WHERE account_id = $1 AND sent_at IS NULL`,
			r.Account.AccountID).Scan(&unsent)
		quiet := time.Since(sc.lastMessage())
		if err == nil && unsent == 0 && quiet >= 5*time.Second {
			return
		}
		if time.Since(lastLog) >= 15*time.Second {
			r.Logf("notices: %d unsent, channels quiet %s (err %v)", unsent, quiet.Round(time.Second), err)
			lastLog = time.Now()
		}
		sleep(ctx, time.Second)
	}
}

// lastMessage is when a channel last got a message.
func (sc *noticesScenario) lastMessage() time.Time {
	var last time.Time
	for _, ch := range sc.channels {
		if ch.sink != nil {
			if t := ch.sink.last(); t.After(last) {
				last = t
			}
		}
	}
	for _, f := range sc.smtp.Files() {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(last) {
			last = st.ModTime()
		}
	}
	return last
}

// loadNoticeRows reads the account's channel_notices, by channel name.
func loadNoticeRows(ctx context.Context, db *sql.DB, accountID string) (map[string][]NoticeRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.name, n.event_id, n.event_type, n.webhook_id, n.sent_at, n.attempts, n.last_error
		FROM channel_notices n JOIN notification_channels c ON c.id = n.channel_id WHERE n.account_id = $1`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]NoticeRow{}
	for rows.Next() {
		var r NoticeRow
		if err := rows.Scan(&r.Channel, &r.EventID, &r.EventType, &r.WebhookID, &r.SentAt, &r.Attempts, &r.LastError); err != nil {
			return nil, err
		}
		out[r.Channel] = append(out[r.Channel], r)
	}
	return out, rows.Err()
}

// loadDue counts, per channel, the operational events of the kinds it
// chose (each owes it one notice), and the events by kind.
func (sc *noticesScenario) loadDue(ctx context.Context, db *sql.DB, accountID string, byKind map[string]int) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT type, count(*) FROM events WHERE account_id = $1 AND trigger_source = 'system'
		AND NOT test AND type = ANY($2) GROUP BY type`, accountID, pq.Array(noticeKinds))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		byKind[kind] = n
	}
	due := map[string]int{}
	for _, ch := range sc.channels {
		for _, k := range ch.Types {
			due[ch.Name] += byKind[k]
		}
	}
	return due, rows.Err()
}

// mailbox is the messages aiosmtpd stored, read and checked.
type mailbox struct {
	msgs     []mailMessage
	problems []string
}

type mailMessage struct {
	to, lang string
	NoticeMessage
}

// to is the messages to recipient (whose channel writes lang).
func (b mailbox) to(recipient, lang string) []NoticeMessage {
	var out []NoticeMessage
	for _, m := range b.msgs {
		if strings.Contains(m.to, recipient) {
			if m.lang != lang && m.Problem == "" {
				m.Problem = "Content-Language " + m.lang + ", want " + lang
			}
			out = append(out, m.NoticeMessage)
		}
	}
	return out
}

// readMaildir reads every message in files and checks its headers: From
// is SMTP_FROM, a Date, a Message-ID unique among them, MIME 1.0,
// multipart/alternative of text/plain and text/html, Content-Language,
// Auto-Submitted; the subject is the plain part's title, the HTML part
// carries the link. The time of a message is its file's.
func readMaildir(files []string) mailbox {
	var b mailbox
	ids := map[string]bool{}
	for _, f := range files {
		m, err := smtptest.ReadMessage(f)
		if err != nil {
			b.problems = addExample(b.problems, filepath.Base(f)+": "+err.Error())
			continue
		}
		mm, id := checkMail(m)
		if ids[id] {
			mm.Problem = "Message-ID " + id + " twice"
		}
		ids[id] = true
		b.msgs = append(b.msgs, mm)
	}
	return b
}

// checkMail checks one message (see readMaildir); id is its Message-ID.
func checkMail(m smtptest.Message) (out mailMessage, id string) {
	h := m.Header
	out.to, out.lang, id = h.Get("To"), h.Get("Content-Language"), h.Get("Message-Id")
	_, dateErr := h.Date()
	mt, _, ctErr := mime.ParseMediaType(h.Get("Content-Type"))
	var problem string
	switch {
	case h.Get("From") != "<"+noticesFrom+">":
		problem = "From " + h.Get("From")
	case dateErr != nil:
		problem = "Date: " + dateErr.Error()
	case id == "" || !strings.HasPrefix(id, "<") || !strings.Contains(id, "@"):
		problem = "Message-ID " + id
	case h.Get("Mime-Version") != "1.0":
		problem = "MIME-Version " + h.Get("Mime-Version")
	case h.Get("Auto-Submitted") != "auto-generated":
		problem = "Auto-Submitted " + h.Get("Auto-Submitted")
	case ctErr != nil || mt != "multipart/alternative":
		problem = "Content-Type " + h.Get("Content-Type")
	}
	out.NoticeMessage = plainParts(m.Text())
	out.At, out.Problem = m.At, problem
	switch {
	case out.Problem != "":
	case m.Types() != "text/plain,text/html":
		out.Problem = "parts " + m.Types()
	case m.Subject != out.Title:
		out.Problem = fmt.Sprintf("Subject %q is not the text's title %q", m.Subject, out.Title)
	case out.Link == "" || !strings.Contains(m.Part("text/html"), `href="`+out.Link+`"`):
		out.Problem = "the HTML part lacks the link"
	}
	return out, id
}

// Rows is the notices scenario's part of the table.
func (r *NoticesResult) Rows() [][2]string {
	kinds := make([]string, 0, len(r.Events))
	for k, n := range r.Events {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	rows := [][2]string{
		{"notices: operational events stored", strings.Join(kinds, ", ")},
		{"notices: digest window", fmt.Sprintf("%.0f s", r.WindowS)},
		{"notices: operational events POSTed to webhooks (about the webhook itself)", fmt.Sprintf("%v (%d)", r.NoticePosts, r.AboutItself)},
	}
	for _, c := range r.Channels {
		rows = append(rows, [2]string{fmt.Sprintf("channel %s (%s, %s): due / rows / sent / failed visibly / lost", c.Name, c.Kind, c.Lang),
			fmt.Sprintf("%d / %d / %d / %d / %d", c.Due, c.Rows, c.Sent, c.FailedVisibly, c.Lost)},
			[2]string{fmt.Sprintf("channel %s: sends / messages (digests) / notices once / duplicated / wrong / too soon (min gap)", c.Name),
				fmt.Sprintf("%d / %d (%d) / %d / %d / %d / %d (%.1f s)", c.Sends, c.Messages, c.Digests, c.Once, c.Duplicated, c.Wrong, c.TooSoon, c.MinGapS)},
			[2]string{fmt.Sprintf("channel %s: failed attempts on record (retried)", c.Name), fmt.Sprintf("%d", c.RetriedAttempts)})
	}
	return rows
}

func (r *NoticesResult) print(w io.Writer) {
	for _, c := range r.Channels {
		for _, ex := range c.Examples {
			fmt.Fprintf(w, "notices %s: %s\n", c.Name, ex)
		}
	}
	for _, ex := range r.AboutEx {
		fmt.Fprintf(w, "notice about the webhook itself: %s\n", ex)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "notices problem: %s\n", p)
	}
}
