package chaos

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// tinyproxy is the receivers scenario's egress proxy (DELIVERY_PROXY_URL):
// Debian's tinyproxy configured as scripts/stack.sh's start_proxy runs it
// for make test — Basic auth, CONNECT to any port, connecting out from
// 127.0.0.2 (proxyOut) so a receiver tells tunnelled requests from direct
// ones — on a port of the suite's own. The scenario kill -9s it and
// starts it again on the same port.
type tinyproxy struct {
	bin, dir   string
	port       int
	user, pass string
	p          *proc.Proc
}

// Addr is the proxy's host:port, what the delivery log names.
func (t *tinyproxy) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(t.port)) }

// URL is DELIVERY_PROXY_URL, with the credentials.
func (t *tinyproxy) URL() string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(t.user, t.pass), Host: t.Addr()}).String()
}

// Log is tinyproxy's own log (a CONNECT line per tunnel).
func (t *tinyproxy) Log() string { return filepath.Join(t.dir, "tinyproxy.log") }

// start writes the configuration and starts tinyproxy in the foreground,
// then waits until its port accepts connections.
func (t *tinyproxy) start(ctx context.Context) error {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(t.dir, "tinyproxy.conf")
	// No ConnectPort line: CONNECT may reach any port (receivers listen
	// on random ones, and http:// deliveries go through CONNECT too).
	body := fmt.Sprintf(`Port %d
Listen 127.0.0.1
Bind %s
Allow 127.0.0.1
BasicAuth %s %s
Timeout 60
MaxClients 200
DisableViaHeader Yes
LogLevel Connect
LogFile "%s"
PidFile "%s"
`, t.port, proxyOut, t.user, t.pass, t.Log(), filepath.Join(t.dir, "tinyproxy.pid"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	p, err := proc.Start("tinyproxy", t.bin, []string{"-d", "-c", conf}, proc.BaseEnv(), filepath.Join(t.dir, "tinyproxy.out"))
	if err != nil {
		return err
	}
	t.p = p
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.Exited() {
			return fmt.Errorf("tinyproxy exited:\n%s", p.Tail())
		}
		if c, err := net.DialTimeout("tcp", t.Addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("tinyproxy not listening on %s within 10 s:\n%s", t.Addr(), p.Tail())
}

func (t *tinyproxy) kill9() error { return t.p.Kill9() }

func (t *tinyproxy) stop() {
	if t.p != nil {
		t.p.Stop(5 * time.Second)
	}
}
