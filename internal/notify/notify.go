// Package notify sends notices to people (issue 23): by e-mail through
// SMTP, and to the team chats e-sign customers use — a DingTalk robot
// (signed), a WeCom group robot, a Feishu/Lark bot (signed), a Slack
// incoming webhook and a Microsoft Teams workflow webhook — each in its
// platform's documented JSON shape. A send either reaches the platform and
// is accepted, or returns an error saying why (the caller records it as an
// attempt and retries); it never panics and never quotes a secret.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kinds of channel.
const (
	Email    = "email"
	DingTalk = "dingtalk"
	WeCom    = "wecom"
	Feishu   = "feishu"
	Slack    = "slack"
	Teams    = "teams"
)

// Kinds lists every kind of channel.
var Kinds = []string{Email, DingTalk, WeCom, Feishu, Slack, Teams}

// Signed reports whether a kind signs its requests with a secret of its
// own (DingTalk's and Feishu's "signature" security setting).
func Signed(kind string) bool { return kind == DingTalk || kind == Feishu }

// Channel is where a message goes: Recipients for e-mail; for a chat, its
// webhook URL (which holds the platform's token: a secret) and, for a
// signed kind, its signing secret.
type Channel struct {
	Kind       string
	Recipients []string
	URL        string
	Secret     string
}

// String keeps the URL's token and the secret out of anything printed.
func (c Channel) String() string { return "channel(" + c.Kind + ")" }

// Message is one notice, rendered in the channel's language: a title, the
// lines of its text and a link to the console page it is about.
type Message struct {
	Title string
	Lines []string
	Link  string
	// Lang is the language it is written in (en or zh-CN): an e-mail's
	// Content-Language.
	Lang string
}

// Sender sends messages. HTTP is the client of chat requests (the egress
// guard's, so a channel cannot reach a private address); SMTP is the
// e-mail server.
type Sender struct {
	HTTP *http.Client
	SMTP SMTP
	Now  func() time.Time // time.Now when nil
}

// ErrNoSMTP: an e-mail channel without an SMTP server configured.
var ErrNoSMTP = errors.New("no SMTP server is configured (SMTP_HOST)")

// Send sends m to c.
func (s *Sender) Send(ctx context.Context, c Channel, m Message) error {
	switch c.Kind {
	case Email:
		return s.sendMail(ctx, c.Recipients, m)
	case DingTalk:
		return s.dingTalk(ctx, c, m)
	case WeCom:
		return s.weCom(ctx, c, m)
	case Feishu:
		return s.feishu(ctx, c, m)
	case Slack:
		return s.slack(ctx, c, m)
	case Teams:
		return s.teams(ctx, c, m)
	}
	return fmt.Errorf("unknown kind of channel %q", c.Kind)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
