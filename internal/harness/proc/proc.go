// Package proc runs the harness's subprocesses (webhookd, the Temporal dev
// server) and the one-shot webhookd commands the fault suite and the
// benchmarks both need.
package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is a subprocess in a process group of its own, so that kill -9 and
// the final stop reach everything it started. It dies with the suite
// (Pdeathsig), and its output is appended to a log file shared by restarts.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
	err  error
}

// Start starts bin with args and env, appending its output to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "==== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id (and process group id).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited says whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill9 sends SIGKILL to the process group and waits (at most 10 s).
func (p *Proc) Kill9() error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still alive 10 s after SIGKILL", p.Name, p.PID())
	}
}

// Stop sends SIGTERM to the group, waits up to grace, then SIGKILL.
func (p *Proc) Stop(grace time.Duration) {
	if p == nil || p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Kill9()
	}
}

// Tail returns the last lines of the process log.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady polls /readyz until 200, the process exits, or within passes.
func WaitReady(ctx context.Context, base string, p *Proc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.Name, p.err, p.Tail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s\n%s", p.Name, within, p.Tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RunOnce runs a one-shot webhookd command (at most 60 s) and returns stdout.
func RunOnce(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("webhookd %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Account is what `webhookd accounts create` prints.
type Account struct {
	AccountID string `json:"accountId"`
	APIKey    string `json:"apiKey"`
}

// CreateAccount runs `webhookd accounts create`.
func CreateAccount(ctx context.Context, bin string, env []string, name string) (Account, error) {
	out, err := RunOnce(ctx, bin, env, "accounts", "create", "--name", name, "--plan", "professional")
	if err != nil {
		return Account{}, err
	}
	var a Account
	if err := json.Unmarshal(out, &a); err != nil || a.APIKey == "" {
		return Account{}, fmt.Errorf("accounts create printed %q: %v", out, err)
	}
	return a, nil
}

// BaseEnv keeps PATH, HOME and TMPDIR of the environment: webhookd gets
// nothing else than what the scenario sets.
func BaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" || k == "HOME" || k == "TMPDIR" {
			env = append(env, kv)
		}
	}
	return env
}
