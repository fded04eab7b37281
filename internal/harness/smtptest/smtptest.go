// Package smtptest runs Debian's aiosmtpd, a real SMTP server, as its own
// process storing what it accepts in a maildir, and reads the messages
// back. The e-mail notices' tests (internal/notify, e2e) and the fault
// suite's notices scenario (internal/harness/chaos), which kills and
// restarts it, share it.
package smtptest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// Python is Debian's python3, which python3-aiosmtpd installs into.
const Python = "/usr/bin/python3"

// Server is one aiosmtpd. Its maildir, log and (with TLS) certificate files
// are in Dir; Start may be called again after Stop or Kill, on the same
// port and maildir.
type Server struct {
	Dir    string // maildir/, aiosmtpd.log and the certificate files
	Port   int    // 0: a free port, chosen by the first Start
	Python string // "" is Python
	// CertPEM and KeyPEM, when set, make it offer and require STARTTLS
	// before MAIL.
	CertPEM, KeyPEM string

	p *proc.Proc
}

// Available says whether python has the aiosmtpd module.
func Available(python string) bool {
	if python == "" {
		python = Python
	}
	return exec.Command(python, "-c", "import aiosmtpd").Run() == nil
}

// Start starts Debian's aiosmtpd for t in a temporary folder on a free port,
// stopped when t ends; t is skipped when python3-aiosmtpd is not installed.
// With certPEM and keyPEM it requires STARTTLS.
func Start(t testing.TB, certPEM, keyPEM string) *Server {
	t.Helper()
	if !Available(Python) {
		t.Skip("Debian's python3-aiosmtpd is not installed: make test installs it")
	}
	s := &Server{Dir: t.TempDir(), CertPEM: certPEM, KeyPEM: keyPEM}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Maildir is where the server stores what it accepts.
func (s *Server) Maildir() string { return filepath.Join(s.Dir, "maildir") }

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Start starts the server and waits until it listens (at most 10 s).
func (s *Server) Start() error {
	python := s.Python
	if python == "" {
		python = Python
	}
	if s.Port == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Port = port
	}
	args := []string{"-m", "aiosmtpd", "-n", "-l", s.Addr(), "-c", "aiosmtpd.handlers.Mailbox", s.Maildir()}
	if s.CertPEM != "" {
		cert, key := filepath.Join(s.Dir, "smtp-cert.pem"), filepath.Join(s.Dir, "smtp-key.pem")
		if err := errors.Join(os.WriteFile(cert, []byte(s.CertPEM), 0o600), os.WriteFile(key, []byte(s.KeyPEM), 0o600)); err != nil {
			return err
		}
		args = append(args, "--tlscert", cert, "--tlskey", key) // STARTTLS required before MAIL
	}
	p, err := proc.Start("aiosmtpd", python, args, proc.BaseEnv(), filepath.Join(s.Dir, "aiosmtpd.log"))
	if err != nil {
		return err
	}
	s.p = p
	for i := 0; i < 200; i++ { // until it listens
		if p.Exited() {
			return fmt.Errorf("aiosmtpd exited (is Debian's python3-aiosmtpd installed?):\n%s", p.Tail())
		}
		if c, err := net.Dial("tcp", s.Addr()); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("aiosmtpd did not listen on %d:\n%s", s.Port, p.Tail())
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop() { s.p.Stop(5 * time.Second) }

// Kill kill -9s the server and waits until it is gone.
func (s *Server) Kill() error { return s.p.Kill9() }

// Files are the files of the messages stored so far.
func (s *Server) Files() []string {
	files, _ := filepath.Glob(filepath.Join(s.Maildir(), "new", "*"))
	return files
}

// Messages reads every message stored so far, oldest first.
func (s *Server) Messages() ([]Message, error) {
	var out []Message
	for _, f := range s.Files() {
		m, err := ReadMessage(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// Message is one stored message, read.
type Message struct {
	At      time.Time // when the server stored it (its file's time)
	Header  netmail.Header
	Subject string // decoded
	Parts   []Part // of a multipart body, in order
}

// Part is one part of a multipart message, its content decoded (from
// quoted-printable).
type Part struct {
	Type string // the media type, without parameters
	Body string
}

// ReadMessage reads the stored message in file.
func ReadMessage(file string) (Message, error) {
	f, err := os.Open(file)
	if err != nil {
		return Message{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Message{}, err
	}
	msg, err := netmail.ReadMessage(f)
	if err != nil {
		return Message{}, err
	}
	m := Message{At: st.ModTime(), Header: msg.Header}
	m.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := parts.NextPart() // decodes quoted-printable
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		m.Parts = append(m.Parts, Part{Type: strings.Split(p.Header.Get("Content-Type"), ";")[0], Body: string(b)})
	}
	return m, nil
}

// Types are the parts' media types, joined by commas.
func (m Message) Types() string {
	types := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		types[i] = p.Type
	}
	return strings.Join(types, ",")
}

// Part is the body of the first part of media type t, "" when none is.
func (m Message) Part(t string) string {
	for _, p := range m.Parts {
		if p.Type == t {
			return p.Body
		}
	}
	return ""
}

// Text is the text/plain part with its lines ended by \n.
func (m Message) Text() string { return strings.ReplaceAll(m.Part("text/plain"), "\r\n", "\n") }

func freePort() (int, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}
