package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/wneessen/go-mail"
)

// SMTP is the e-mail server notices go through (SMTP_* settings).
type SMTP struct {
	Host string
	Port int
	// TLS: "starttls" (required), "implicit" (TLS from the first byte,
	// port 465) or "none" (a local relay only).
	TLS      string
	Username string
	Password string
	From     string
	// TLSConfig verifies the server (nil: the system roots).
	TLSConfig *tls.Config
}

// SMTP TLS modes.
const (
	StartTLS    = "starttls"
	ImplicitTLS = "implicit"
	NoTLS       = "none"
)

// String keeps the password out of anything printed.
func (s SMTP) String() string { return fmt.Sprintf("smtp(%s:%d, %s)", s.Host, s.Port, s.TLS) }

// sendMail sends m to every recipient, in one message, as plain text
// with an HTML alternative.
func (s *Sender) sendMail(ctx context.Context, to []string, m Message) error {
	cfg := s.SMTP
	if cfg.Host == "" {
		return ErrNoSMTP
	}
	msg := mail.NewMsg()
	if err := msg.From(cfg.From); err != nil {
		return fmt.Errorf("SMTP_FROM: %w", err)
	}
	if err := msg.To(to...); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(m.Title)
	msg.SetGenHeader(mail.HeaderContentLang, m.Lang)
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, plain(m))
	msg.AddAlternativeString(mail.TypeTextHTML, html(m))
	opts := []mail.Option{mail.WithPort(cfg.Port)}
	switch cfg.TLS {
	case ImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case NoTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username),
			mail.WithPassword(cfg.Password))
	}
	client, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP settings: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		text := err.Error()
		if cfg.Password != "" {
			text = strings.ReplaceAll(text, cfg.Password, "…")
		}
		return fmt.Errorf("sending e-mail through %s:%d: %s", cfg.Host, cfg.Port, text)
	}
	return nil
}

// html is m as a small HTML body (escaped).
func html(m Message) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="` + escape(m.Lang) + `"><body><h2>` + escape(m.Title) + "</h2>")
	for _, l := range m.Lines {
		b.WriteString("<p>" + escape(l) + "</p>")
	}
	if m.Link != "" {
		b.WriteString(`<p><a href="` + escape(m.Link) + `">` + escape(m.Link) + "</a></p>")
	}
	b.WriteString("</body></html>")
	return b.String()
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func escape(s string) string { return escaper.Replace(s) }
