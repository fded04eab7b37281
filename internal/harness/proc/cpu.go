package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux this runs on.
const ClockTicks = 100

// Stat returns ppid, utime+stime and cutime+cstime (in ticks) of pid.
func Stat(pid int) (ppid int, self, children int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, 0, errors.New("short stat")
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
	// f[0] is field 3 (state): field n is f[n-3].
	return int(num(1)), num(11) + num(12), num(13) + num(14), nil
}

// Children lists the pids whose parent is ppid.
func Children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, _, _, err := Stat(pid); err == nil && pp == ppid {
			out = append(out, pid)
		}
	}
	return out
}

// PostmasterPID reads the first line of $PGDATA/postmaster.pid (0 when
// it cannot).
func PostmasterPID(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// PostgresTicks is the CPU time (in ticks) a PostgreSQL cluster has used:
// its postmaster, its live processes (backends, WAL writer, autovacuum…)
// and those that exited. Live ones are summed first, then the postmaster's
// reaped children: a backend exiting in between is counted twice rather
// than not at all.
func PostgresTicks(postmaster int) int64 {
	var t int64
	for _, k := range Children(postmaster) {
		if _, ks, _, err := Stat(k); err == nil {
			t += ks
		}
	}
	if _, self, kids, err := Stat(postmaster); err == nil {
		t += self + kids
	}
	return t
}
