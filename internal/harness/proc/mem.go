package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory readings from /proc: the fault suite's soak and the benchmarks
// both watch the resident set of the processes they run.

// StatusKB is the "<field>:  N kB" line of /proc/<pid>/status (VmRSS,
// VmHWM, ...), or 0 when the process or the line is gone.
func StatusKB(pid int, field string) int64 {
	n, _ := readKB(fmt.Sprintf("/proc/%d/status", pid), field)
	return n
}

// PssKB is the proportional set size of pid: its share of the pages it
// shares with other processes. VmRSS when smaps_rollup is unreadable.
func PssKB(pid int) int64 {
	if n, ok := readKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss"); ok {
		return n
	}
	return StatusKB(pid, "VmRSS")
}

// readKB finds the "<field>:  N kB" line of a /proc file; ok is false
// when the file cannot be read or has no such line.
func readKB(path, field string) (n int64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(line, field+":"); found {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n, true
		}
	}
	return 0, false
}
