package bench

// Process control: the webhookd subprocesses (api, worker, one-shot
// commands), and /proc readings of CPU time and memory of every process of
// the stack.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ---- /proc readings ----

// temporalPID finds the dev server started on port (bench.sh usually tells).
func temporalPID(port string) int {
	if s := os.Getenv("BENCH_TEMPORAL_PID"); s != "" {
		if pid, err := strconv.Atoi(s); err == nil {
			return pid
		}
	}
	out, err := exec.Command("pgrep", "-f", "server start-dev.*--port "+port).Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out) + " 0")[0])
	return pid
}

// component is one measured process (postgres: a postmaster and its children).
type component struct {
	Name     string
	PID      int
	Postgres bool
}

// monitor samples memory of the components and reads CPU snapshots.
type monitor struct {
	mu      sync.Mutex
	comps   []component
	peakRSS map[string]int64 // kB, sampled VmRSS (postgres: sum of all its processes)
	retired map[string]int64 // CPU ticks of processes replaced under the same name
}

// components returns the measured processes.
func (m *monitor) components() []component {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]component(nil), m.comps...)
}

// retire is called before the named processes stop (webhookd about to be
// restarted): their CPU so far stays in every later snapshot, so snapshots
// stay comparable across the restart, and their peak memory in the peak.
func (m *monitor) retire(names ...string) {
	now := m.snapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		for i := range m.comps {
			if m.comps[i].Name != n || m.comps[i].PID <= 0 {
				continue
			}
			if hwm := proc.StatusKB(m.comps[i].PID, "VmHWM"); hwm > m.peakRSS[n] {
				m.peakRSS[n] = hwm
			}
			m.retired[n] = now.ticks[n]
			m.comps[i].PID = 0
		}
	}
}

// replace points the named components at the processes that replaced them.
func (m *monitor) replace(comps []component) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range comps {
		for i := range m.comps {
			if m.comps[i].Name == c.Name {
				m.comps[i].PID = c.PID
			}
		}
	}
}

func newMonitor(comps []component) *monitor {
	return &monitor{comps: comps, peakRSS: map[string]int64{}, retired: map[string]int64{}}
}

// cpuSnapshot is CPU ticks per component at one instant.
type cpuSnapshot struct {
	at    time.Time
	ticks map[string]int64
}

func (m *monitor) snapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: map[string]int64{}}
	m.mu.Lock()
	for n, t := range m.retired {
		s.ticks[n] = t
	}
	m.mu.Unlock()
	for _, c := range m.components() {
		if c.PID <= 0 {
			continue
		}
		var t int64
		if c.Postgres {
			t = proc.PostgresTicks(c.PID)
		} else {
			_, self, _, err := proc.Stat(c.PID)
			if err != nil {
				continue
			}
			t = self
		}
		s.ticks[c.Name] += t
	}
	return s
}

// cpuMsSince is the CPU time used since a snapshot, in milliseconds.
func (m *monitor) cpuMsSince(from cpuSnapshot) map[string]float64 {
	to := m.snapshot()
	out := map[string]float64{}
	for name, t := range to.ticks {
		out[name] = float64(max(0, t-from.ticks[name])) * 1000 / proc.ClockTicks
	}
	return out
}

// cpuSince is the CPU used since a snapshot, in cores (CPU seconds per wall second).
func (m *monitor) cpuSince(from cpuSnapshot) map[string]float64 {
	to := m.snapshot()
	wall := to.at.Sub(from.at).Seconds()
	out := map[string]float64{}
	if wall <= 0 {
		return out
	}
	for name, t := range to.ticks {
		// max: a process's counters only grow; a dip is a sampling artefact.
		out[name] = round2(float64(max(0, t-from.ticks[name])) / proc.ClockTicks / wall)
	}
	return out
}

// sample records peak VmRSS until ctx ends.
func (m *monitor) sample(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.sampleOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *monitor) sampleOnce() {
	for _, c := range m.components() {
		if c.PID <= 0 {
			continue
		}
		var rss int64
		if c.Postgres {
			// Proportional set size, so shared buffers count once in the sum.
			rss = proc.PssKB(c.PID)
			for _, k := range proc.Children(c.PID) {
				rss += proc.PssKB(k)
			}
		} else {
			rss = proc.StatusKB(c.PID, "VmRSS")
		}
		m.mu.Lock()
		if rss > m.peakRSS[c.Name] {
			m.peakRSS[c.Name] = rss
		}
		m.mu.Unlock()
	}
}

// memory reports peak memory in MB: VmHWM for single processes (the kernel's
// own high-water mark), the sampled sum of PSS of all its processes for
// postgres.
func (m *monitor) memory() map[string]float64 {
	m.sampleOnce()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]float64{}
	for _, c := range m.comps {
		if c.PID <= 0 {
			continue
		}
		kb := m.peakRSS[c.Name]
		if !c.Postgres {
			if hwm := proc.StatusKB(c.PID, "VmHWM"); hwm > kb {
				kb = hwm
			}
		}
		out[c.Name] = round2(float64(kb) / 1024)
	}
	return out
}
