package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// ShortScenario is the reduced fault scenario of make test: it kills only
// webhookd processes it started (never the shared servers), takes one
// receiver down briefly, and publishes about 80 events.
func ShortScenario() Config {
	return Config{
		RetrySchedule:   "200ms,500ms,1s,2s,3s,5s,5s",
		DeliveryTimeout: "2s",
		Receivers:       []ReceiverSpec{{Name: "steady"}, {Name: "flaky", FailFirst: 2}, {Name: "slow", Delay: 300 * time.Millisecond}, {Name: "downtime"}},
		Rate:            4,
		MaxEvents:       80,
		GiveUp:          30 * time.Second,
		Warmup:          3 * time.Second,
		Steps: []Step{
			withSettle(KillServe(500*time.Millisecond), 4*time.Second),
			withSettle(SplitMode(), 2*time.Second),
			withSettle(KillWorker(500*time.Millisecond), 4*time.Second),
			withSettle(ReceiverDown("downtime", 5*time.Second), time.Second),
			Soak(SoakSpec{Duration: 8 * time.Second, Keys: 2, PerKey: 10, Slow: 2, Cooldown: 3 * time.Second}),
		},
		Tail:           time.Second,
		ConvergeWithin: 45 * time.Second,
		Quiet:          3 * time.Second,
	}
}

func withSettle(s Step, d time.Duration) Step {
	s.Settle = d
	return s
}

// TestShortChaos runs ShortScenario against make test's PostgreSQL (a fresh
// database) and Temporal server (a task queue of its own).
func TestShortChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	taddr := os.Getenv("TEMPORAL_ADDRESS")
	if taddr == "" {
		t.Skip("TEMPORAL_ADDRESS is not set: run `make test`")
	}
	dbURL := dbtest.NewDatabase(t) // skips without DATABASE_URL

	bin := filepath.Join(t.TempDir(), "webhookd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/webhookd")
	build.Dir = "../../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiAddr, metricsAddr := freeAddr(t), freeAddr(t)

	cfg := ShortScenario()
	cfg.Bin, cfg.DatabaseURL, cfg.TemporalAddress, cfg.APIAddr = bin, dbURL, taddr, apiAddr
	cfg.MetricsAddr = metricsAddr
	cfg.TaskQueue = fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	cfg.LogDir = t.TempDir()
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Execute(ctx, cfg)
	rep.Scenario = "short (make test)"
	var out bytes.Buffer
	rep.Print(&out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		for _, name := range []string{"serve", "api", "worker"} {
			if b, err := os.ReadFile(filepath.Join(cfg.LogDir, "webhookd-"+name+".log")); err == nil {
				t.Logf("webhookd %s log (tail):\n%s", name, tail(string(b), 30))
			}
		}
		t.Fatal("the fault suite failed: see the table above")
	}
}

// freeAddr is a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func tail(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
