package e2etest

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// Webhookd builds the real webhookd binary (without the race detector, as
// it ships) once per test process and returns its path.
func Webhookd(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "webhookd-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "webhookd")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/esign-webhooks/esign-webhooks/cmd/webhookd")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// Process is a webhookd process of a test.
type Process struct {
	*exec.Cmd
	logs *syncBuffer
}

// Logs is what the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
}

// StartProcess runs `webhookd <role>` against the Env's database, Temporal
// task queue and secrets key, with extra environment variables (KEY=value)
// on top. It is stopped (SIGTERM, then SIGKILL) when the test ends, and its
// output is logged when the test failed.
func (e *Env) StartProcess(role string, extra ...string) *Process {
	e.T.Helper()
	env := []string{}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" || k == "HOME" || k == "TMPDIR" {
			env = append(env, kv)
		}
	}
	env = append(env, TemporalEnv()...)
	env = append(env,
		"DATABASE_URL="+e.DBURL,
		"TEMPORAL_ADDRESS="+TemporalAddress(e.T),
		"TEMPORAL_TASK_QUEUE="+e.Queue,
		"SECRETS_KEY="+hex.EncodeToString(e.Key),
		"WEBHOOK_ALLOW_HTTP=true",
		"EGRESS_ALLOW_CIDRS=127.0.0.0/8",
		"LOG_LEVEL=warn",
	)
	env = append(env, extra...)
	p := &Process{Cmd: exec.Command(Webhookd(e.T), role), logs: &syncBuffer{}}
	p.Env = env
	p.Stdout, p.Stderr = p.logs, p.logs
	if err := p.Start(); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.Process.Kill()
		}
		if e.T.Failed() {
			e.T.Logf("webhookd %s output:\n%s", role, p.Logs())
		}
	})
	return p
}

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
