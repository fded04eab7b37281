package proc

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a process about to be started on it.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// MetricValue reads an unlabelled metric (e.g. go_goroutines) from the
// Prometheus text page at url; ok is false when the page cannot be read
// or does not have it.
func MetricValue(hc *http.Client, url, name string) (v float64, ok bool) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if s, found := strings.CutPrefix(sc.Text(), name+" "); found {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return v, err == nil
		}
	}
	return 0, false
}
