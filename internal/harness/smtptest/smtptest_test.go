package smtptest_test

import (
	"net/smtp"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/smtptest"
)

const mail = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=B\r\n\r\n" +
	"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline one\r\nline two\r\n" +
	"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n--B--\r\n"

// TestServerRestarts: a message sent, the server killed and started again
// on the same port, a second message; both are read back, oldest first,
// parts and subject decoded.
func TestServerRestarts(t *testing.T) {
	s := smtptest.Start(t, "", "")
	send := func() {
		t.Helper()
		if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(mail)); err != nil {
			t.Fatal(err)
		}
	}
	send()
	port := s.Port
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(mail)); err == nil {
		t.Fatal("a killed server took a message")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	send()
	msgs, err := s.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != port || len(msgs) != 2 || len(s.Files()) != 2 {
		t.Fatalf("port %d then %d; %d messages", port, s.Port, len(msgs))
	}
	for _, m := range msgs {
		if m.Subject != "café" || m.Types() != "text/plain,text/html" || m.Text() != "line one\nline two" ||
			!strings.Contains(m.Part("text/html"), "<p>html</p>") || m.Header.Get("To") != "b@example.com" || m.At.IsZero() {
			t.Errorf("read back: %+v, text %q", m, m.Text())
		}
	}
	if msgs[1].At.Before(msgs[0].At) {
		t.Error("not oldest first")
	}
}
