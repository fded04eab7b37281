package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// markdown is m as the Markdown the chat platforms render: a bold title,
// its lines, the link.
func markdown(m Message) string {
	var b strings.Builder
	b.WriteString("**" + m.Title + "**\n\n")
	for _, l := range m.Lines {
		b.WriteString(l + "\n\n")
	}
	if m.Link != "" {
		b.WriteString("[" + m.Link + "](" + m.Link + ")")
	}
	return b.String()
}

// plain is m as plain text.
func plain(m Message) string {
	parts := append([]string{m.Title}, m.Lines...)
	if m.Link != "" {
		parts = append(parts, m.Link)
	}
	return strings.Join(parts, "\n")
}

// The platforms' documented shapes and limits, checked against their
// documentation (docs/notices.md, "The platforms' documentation", lists the
// pages): DingTalk's custom robot (open.dingtalk.com, "自定义机器人安全设置"
// and "消息类型及数据格式"), WeCom's group robot
// (developer.work.weixin.qq.com, "群机器人配置说明": markdown.content at
// most 4096 bytes, errcode 40058 beyond), Feishu's custom bot
// (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot), Slack's
// incoming webhooks and Block Kit (a section's text at most 3000
// characters, "invalid_blocks" beyond), and Teams' Workflows ("When a Teams
// webhook request is received": Adaptive Cards only, a card at most 28 KB).

// Size limits of one message; a digest longer than its platform takes is
// cut (fit), never refused for good.
const (
	weComMarkdownMaxBytes = 4096
	slackSectionMaxChars  = 3000
	teamsCardMaxBytes     = 27 * 1024 // the whole message, below the 28 KB a card may take
	// chatMaxNotices bounds the notices a chat digest lists one by one:
	// a chat is read at a glance (the e-mail lists them all).
	chatMaxNotices = 30
)

// fit is m within a platform's limit: a digest lists at most
// chatMaxNotices of its notices, and fewer while fits says no, the rest
// counted on one line ("… and 12 more").
func fit(m Message, fits func(Message) bool) Message {
	n := 0
	for n < len(m.Lines) && strings.HasPrefix(m.Lines[n], bullet) {
		n++
	}
	if n == 0 {
		return m
	}
	for k := min(n, chatMaxNotices); ; k-- {
		c := m
		c.Lines = append([]string(nil), m.Lines[:k]...)
		if k < n {
			c.Lines = append(c.Lines, tr(m.Lang, "more", n-k))
		}
		c.Lines = append(c.Lines, m.Lines[n:]...)
		if k <= 1 || fits(c) {
			return c
		}
	}
}

// DingTalkSign is a DingTalk robot's signature of timestamp (Unix ms):
// base64 of HMAC-SHA256, keyed with the secret, of "timestamp\nsecret".
func DingTalkSign(timestampMS int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMS, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// dingTalk posts a markdown message; a signed robot gets timestamp and
// sign in the query. DingTalk answers 200 with {"errcode": 0} when it took
// the message.
func (s *Sender) dingTalk(ctx context.Context, c Channel, m Message) error {
	m = fit(m, func(Message) bool { return true })
	u, err := url.Parse(c.URL)
	if err != nil {
		return errBadURL
	}
	if c.Secret != "" {
		ts := s.now().UnixMilli()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", DingTalkSign(ts, c.Secret))
		u.RawQuery = q.Encode()
	}
	body := map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": m.Title, "text": markdown(m)}}
	return s.postJSON(ctx, u.String(), body, errcodeOK)
}

// weCom posts a markdown message to a WeCom group robot (its key is in
// the URL); it answers {"errcode": 0}.
func (s *Sender) weCom(ctx context.Context, c Channel, m Message) error {
	m = fit(m, func(m Message) bool { return len(markdown(m)) <= weComMarkdownMaxBytes })
	body := map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": markdown(m)}}
	return s.postJSON(ctx, c.URL, body, errcodeOK)
}

// FeishuSign is a Feishu/Lark bot's signature of timestamp (Unix s):
// base64 of HMAC-SHA256 keyed with "timestamp\nsecret" over nothing.
func FeishuSign(timestamp int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishu posts a text message, signed in the body when the bot has a
// secret; it answers {"code": 0}.
func (s *Sender) feishu(ctx context.Context, c Channel, m Message) error {
	m = fit(m, func(Message) bool { return true })
	body := map[string]any{"msg_type": "text", "content": map[string]string{"text": plain(m)}}
	if c.Secret != "" {
		ts := s.now().Unix()
		body["timestamp"], body["sign"] = strconv.FormatInt(ts, 10), FeishuSign(ts, c.Secret)
	}
	return s.postJSON(ctx, c.URL, body, func(raw []byte) error {
		var r struct {
			Code *int   `json:"code"`
			Msg  string `json:"msg"`
		}
		if json.Unmarshal(raw, &r) != nil || r.Code == nil {
			return fmt.Errorf("the platform answered %q, not {\"code\": 0}", excerpt(raw))
		}
		if *r.Code != 0 {
			return fmt.Errorf("the platform refused the message: code %d: %s", *r.Code, r.Msg)
		}
		return nil
	})
}

// slack posts to an incoming webhook: text, and the same as a section
// block; Slack answers 200 "ok".
func (s *Sender) slack(ctx context.Context, c Channel, m Message) error {
	m = fit(m, func(m Message) bool { return utf8.RuneCountInString(slackSection(m)) <= slackSectionMaxChars })
	text := slackSection(m)
	body := map[string]any{"text": plain(m),
		"blocks": []any{map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}}}}
	return s.postJSON(ctx, c.URL, body, nil)
}

// teams posts an Adaptive Card to a Teams workflow webhook ("When a Teams
// webhook request is received"), which answers 202. Version 1.2: nothing
// newer is used, and every Teams client renders it.
func (s *Sender) teams(ctx context.Context, c Channel, m Message) error {
	m = fit(m, func(m Message) bool { b, _ := json.Marshal(teamsBody(m)); return len(b) <= teamsCardMaxBytes })
	return s.postJSON(ctx, c.URL, teamsBody(m), nil)
}

// teamsBody is m as a message with one Adaptive Card attachment.
func teamsBody(m Message) map[string]any {
	blocks := []any{map[string]any{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true}}
	for _, l := range m.Lines {
		blocks = append(blocks, map[string]any{"type": "TextBlock", "text": l, "wrap": true})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
		"version": "1.2", "body": blocks}
	if m.Link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": m.Link, "url": m.Link}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}

// slackSection is m as a section block's mrkdwn text.
func slackSection(m Message) string {
	text := "*" + m.Title + "*\n" + strings.Join(m.Lines, "\n")
	if m.Link != "" {
		text += "\n<" + m.Link + ">"
	}
	return text
}

var errBadURL = fmt.Errorf("the channel's URL is not a URL")

// errcodeOK checks the {"errcode": 0, "errmsg": "ok"} answer of DingTalk
// and WeCom (both answer 200 to a message they refuse).
func errcodeOK(raw []byte) error {
	var r struct {
		Errcode *int   `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if json.Unmarshal(raw, &r) != nil || r.Errcode == nil {
		return fmt.Errorf("the platform answered %q, not {\"errcode\": 0}", excerpt(raw))
	}
	if *r.Errcode != 0 {
		return fmt.Errorf("the platform refused the message: errcode %d: %s", *r.Errcode, r.Errmsg)
	}
	return nil
}

// postJSON posts body to rawURL and checks the answer: a 2xx, and what
// check says of its body (nil: any body). Errors never quote the URL,
// which holds the channel's token.
func (s *Sender) postJSON(ctx context.Context, rawURL string, body any, check func([]byte) error) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return errBadURL
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "esign-webhooks notices")
	client := s.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to the platform: %s", redact(err, rawURL))
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the platform answered HTTP %d: %s", res.StatusCode, excerpt(raw))
	}
	if check != nil {
		return check(raw)
	}
	return nil
}

// redact is err's text without rawURL (url.Error quotes it).
func redact(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		msg = strings.ReplaceAll(msg, rawURL, u.Scheme+"://"+u.Host+"/…")
		msg = strings.ReplaceAll(msg, strconv.Quote(rawURL), u.Scheme+"://"+u.Host+"/…")
	}
	return msg
}

func excerpt(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
