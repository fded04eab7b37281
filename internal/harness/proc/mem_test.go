package proc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadKB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	status := "Name:\twebhookd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if err := os.WriteFile(path, []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]int64{"VmRSS": 10240, "VmHWM": 20480} {
		if n, ok := readKB(path, field); !ok || n != want {
			t.Errorf("%s: %d %v, want %d", field, n, ok, want)
		}
	}
	if _, ok := readKB(path, "Pss"); ok {
		t.Error("a missing line was found")
	}
	if _, ok := readKB(filepath.Join(t.TempDir(), "gone"), "VmRSS"); ok {
		t.Error("a missing file was read")
	}
	if StatusKB(os.Getpid(), "VmRSS") <= 0 {
		t.Error("this process has no resident set")
	}
}
