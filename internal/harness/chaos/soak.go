package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// SoakSpec is the hostile-traffic step: for Duration, Keys publisher keys
// each send requests at PerKey a second (the API's per-key limit), a mix of
// valid reads and hostile requests, while the scenario's publisher goes on
// and its events are delivered. Slow is how many slow-loris connections
// are held open throughout.
type SoakSpec struct {
	Duration time.Duration
	Keys     int
	PerKey   float64
	Slow     int
	// Cooldown is the wait after the load before the API process is
	// measured again.
	Cooldown time.Duration
}

// SoakStats is what the soak measured. RSS and goroutines are the API
// process's (webhookd api, or serve).
type SoakStats struct {
	DurationS       float64        `json:"durationS"`
	Keys            int            `json:"keys"`
	PerKeyPerS      float64        `json:"perKeyPerS"`
	Requests        int            `json:"requests"`
	Hostile         int            `json:"hostile"`
	ByAnswer        map[string]int `json:"byAnswer"` // "2xx", "413 payload_too_large", "5xx", "conn error"...
	ServerErrors    int            `json:"serverErrors"`
	NotJSON         int            `json:"notJSON"` // 4xx answers not in the JSON error shape
	SlowHeld        int            `json:"slowLorisHeld"`
	SlowClosed      int            `json:"slowLorisClosedByServer"`
	RSSStartMB      float64        `json:"rssStartMB"`
	RSSPeakMB       float64        `json:"rssPeakMB"`
	RSSEndMB        float64        `json:"rssEndMB"`
	GoroutinesStart int            `json:"goroutinesStart"`
	GoroutinesPeak  int            `json:"goroutinesPeak"`
	GoroutinesEnd   int            `json:"goroutinesEnd"`
	Problems        []string       `json:"problems,omitempty"`
}

// Soak bounds: after the cool-down the API process is back within these
// of where it started.
const (
	soakRSSSlackMB      = 96
	soakGoroutinesSlack = 40
	soakRSSPeakMB       = 1024
)

// Failed reports whether the soak broke a promise: a 5xx, a 4xx not in the
// JSON shape, or an API process that did not come back near its start.
func (s *SoakStats) Failed() bool { return len(s.Problems) > 0 }

func (s *SoakStats) judge() {
	if s.ServerErrors > 0 {
		s.Problems = append(s.Problems, fmt.Sprintf("%d answers were 5xx", s.ServerErrors))
	}
	if s.NotJSON > 0 {
		s.Problems = append(s.Problems, fmt.Sprintf("%d 4xx answers were not in the JSON error shape", s.NotJSON))
	}
	if s.RSSPeakMB > soakRSSPeakMB {
		s.Problems = append(s.Problems, fmt.Sprintf("API RSS peaked at %.0f MB (bound %d MB)", s.RSSPeakMB, soakRSSPeakMB))
	}
	if s.RSSEndMB > s.RSSStartMB+soakRSSSlackMB {
		s.Problems = append(s.Problems, fmt.Sprintf("API RSS %.0f MB after the load, %.0f MB before", s.RSSEndMB, s.RSSStartMB))
	}
	if s.GoroutinesEnd > s.GoroutinesStart+soakGoroutinesSlack {
		s.Problems = append(s.Problems, fmt.Sprintf("API goroutines %d after the load, %d before", s.GoroutinesEnd, s.GoroutinesStart))
	}
	if s.Requests == 0 {
		s.Problems = append(s.Problems, "no request was sent")
	}
}

// Soak is the step; its figures land in the run's report.
func Soak(spec SoakSpec) Step {
	return Step{Name: fmt.Sprintf("hostile soak: %d keys at %g requests/s for %s", spec.Keys, spec.PerKey, spec.Duration),
		Do: func(ctx context.Context, r *Run) error {
			s := &soak{spec: spec, run: r, stats: SoakStats{Keys: spec.Keys, PerKeyPerS: spec.PerKey, ByAnswer: map[string]int{}}}
			err := s.do(ctx)
			r.Soak = &s.stats
			return err
		}}
}

// soak is one soak in progress.
type soak struct {
	spec    SoakSpec
	run     *Run
	keys    []string
	webhook string // a webhook id of the account, for PATCH bodies
	hc      *http.Client

	mu    sync.Mutex
	stats SoakStats
}

func (s *soak) do(ctx context.Context) error {
	s.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
	for i := 0; i < s.spec.Keys; i++ {
		k, err := s.createKey(ctx)
		if err != nil {
			return err
		}
		s.keys = append(s.keys, k)
	}
	for _, r := range s.run.Receivers {
		s.webhook = r.WebhookID()
	}
	pid := s.run.Webhookd.APIPID()
	s.stats.RSSStartMB, s.stats.GoroutinesStart = rssMB(pid), s.goroutines()
	s.stats.RSSPeakMB, s.stats.GoroutinesPeak = s.stats.RSSStartMB, s.stats.GoroutinesStart
	lctx, cancel := context.WithTimeout(ctx, s.spec.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, k := range s.keys {
		wg.Add(1)
		go func() { defer wg.Done(); s.sendAtRate(lctx, k) }()
	}
	for i := 0; i < s.spec.Slow; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.slowLoris(lctx) }()
	}
	s.sample(lctx, pid)
	wg.Wait()
	s.stats.DurationS = round1(time.Since(start).Seconds())
	s.run.Logf("soak: %d requests (%d hostile) sent; cooling down %s", s.stats.Requests, s.stats.Hostile, s.spec.Cooldown)
	sleep(ctx, s.spec.Cooldown)
	s.stats.RSSEndMB, s.stats.GoroutinesEnd = rssMB(s.run.Webhookd.APIPID()), s.goroutines()
	s.stats.judge()
	if s.stats.Failed() {
		return fmt.Errorf("soak: %s", strings.Join(s.stats.Problems, "; "))
	}
	return nil
}

// sample records the API process's peak RSS and goroutines until ctx ends.
func (s *soak) sample(ctx context.Context, pid int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rss, g := rssMB(pid), s.goroutines()
		s.mu.Lock()
		s.stats.RSSPeakMB, s.stats.GoroutinesPeak = max(s.stats.RSSPeakMB, rss), max(s.stats.GoroutinesPeak, g)
		s.mu.Unlock()
	}
}

// sendAtRate sends one request every 1/PerKey with key until ctx ends,
// each on its own goroutine (at most 16 in flight per key).
func (s *soak) sendAtRate(ctx context.Context, key string) {
	t := time.NewTicker(time.Duration(float64(time.Second) / s.spec.PerKey))
	defer t.Stop()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // the API is slow: never pile up
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.one(ctx, key)
		}()
	}
}

// one sends a request of the mix: 40 % valid (reads, a well-formed event
// the API refuses with 422), 60 % hostile.
func (s *soak) one(ctx context.Context, key string) {
	n := rand.IntN(10)
	var status int
	var code string
	var err error
	if n < 4 {
		status, code, err = s.valid(ctx, key, n)
	} else {
		s.count(func(st *SoakStats) { st.Hostile++ })
		status, code, err = s.hostile(key, n)
	}
	s.record(status, code, err)
}

func (s *soak) valid(ctx context.Context, key string, n int) (int, string, error) {
	switch n {
	case 0:
		return s.request(ctx, http.MethodGet, "/v1/webhooks", key, nil)
	case 1:
		return s.request(ctx, http.MethodGet, "/v1/deliveries?limit=50", key, nil)
	case 2:
		return s.request(ctx, http.MethodGet, "/v1/webhooks/"+s.webhook, key, nil)
	}
	return s.request(ctx, http.MethodPost, "/v1/events", key,
		[]byte(`{"type":"NO_SUCH_TYPE","triggerSource":"saas_page","data":{"envelopeId":"soak"}}`))
}

// hostile is one of the shapes that once cost the API dearly or that it
// answered outside its JSON shape.
func (s *soak) hostile(key string, n int) (int, string, error) {
	const event = `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":`
	addr := strings.TrimPrefix(s.run.Webhookd.APIURL, "http://")
	switch n {
	case 4: // maximally nested, just under the size limit
		return rawRequest(addr, "POST", "/v1/events", key, "application/json", nestedBody(event, 290_000))
	case 5: // over the size limit
		return rawRequest(addr, "POST", "/v1/events", key, "application/json", nestedBody(event, 1<<20))
	case 6: // an object of 20,000 members
		return rawRequest(addr, "POST", "/v1/events", key, "application/json",
			[]byte(event+`{`+strings.Repeat(`"k":1,`, 20_000)+`"z":1}}`))
	case 7: // nested management body
		return rawRequest(addr, "PATCH", "/v1/webhooks/"+s.webhook, key, "application/json", nestedBody(`{"name":`, 200_000))
	case 8: // a control byte in Content-Type
		return rawRequest(addr, "POST", "/v1/events", key, "application/json\x01", []byte(`{}`))
	}
	// a duplicate key deep in data, and a long query string
	if rand.IntN(2) == 0 {
		return rawRequest(addr, "POST", "/v1/events", key, "application/json",
			[]byte(event+strings.Repeat(`{"a":`, 20)+`{"x":1,"x":2}`+strings.Repeat(`}`, 21)))
	}
	return rawRequest(addr, "GET", "/v1/deliveries?cursor="+strings.Repeat("a", 8000), key, "", nil)
}

func nestedBody(prefix string, n int) []byte {
	return append([]byte(prefix), bytes.Repeat([]byte("["), n-len(prefix))...)
}

// slowLoris holds a connection open sending a header byte every 2 s, as
// long as the server keeps it, then opens another, until ctx ends.
func (s *soak) slowLoris(ctx context.Context) {
	addr := strings.TrimPrefix(s.run.Webhookd.APIURL, "http://")
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		s.count(func(st *SoakStats) { st.SlowHeld++ })
		closed := false
		_, _ = io.WriteString(conn, "GET /v1/webhooks HTTP/1.1\r\nHost: a\r\nX-Slow: ")
		for ctx.Err() == nil {
			if _, err := conn.Write([]byte("a")); err != nil {
				closed = true
				break
			}
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				closed = true // the server answered (408) or hung up
				break
			}
		}
		_ = conn.Close()
		if closed {
			s.count(func(st *SoakStats) { st.SlowClosed++ })
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func (s *soak) request(ctx context.Context, method, path, key string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.run.Webhookd.APIURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, "", nil // the soak ended
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	return answerOf(resp)
}

// rawRequest sends one request on its own connection, reading the answer
// while it writes: the API may answer (413) before the body is all sent.
func rawRequest(addr, method, path, key, contentType string, body []byte) (int, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n", method, path, key, len(body))
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	go func() {
		_, _ = io.WriteString(conn, head+"\r\n")
		_, _ = conn.Write(body)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return answerOf(resp)
}

// answerOf is the status and, for an error, the JSON error code ("" when
// the answer is not in the JSON error shape).
func answerOf(resp *http.Response) (int, string, error) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 400 {
		return resp.StatusCode, "", nil
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &e) != nil {
		return resp.StatusCode, "", nil
	}
	return resp.StatusCode, e.Error.Code, nil
}

func (s *soak) record(status int, code string, err error) {
	if status == -1 {
		return
	}
	s.count(func(st *SoakStats) {
		st.Requests++
		switch {
		case err != nil:
			st.ByAnswer["conn error"]++
		case status >= 500:
			st.ServerErrors++
			st.ByAnswer[strconv.Itoa(status)+" "+code]++
		case status >= 400:
			if code == "" {
				st.NotJSON++
			}
			st.ByAnswer[strconv.Itoa(status)+" "+code]++
		default:
			st.ByAnswer["2xx"]++
		}
	})
}

func (s *soak) count(f func(*SoakStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// createKey makes an admin key of the scenario's account.
func (s *soak) createKey(ctx context.Context) (string, error) {
	c := &restclient.Client{BaseURL: s.run.Webhookd.APIURL, Key: s.run.Account.APIKey, HTTP: s.hc}
	return c.CreateAPIKey(ctx, "admin", "soak")
}

// goroutines reads go_goroutines from the API process's metrics.
func (s *soak) goroutines() int {
	if s.run.Webhookd.APIMetrics == "" {
		return 0
	}
	n, _ := proc.MetricValue(s.hc, "http://"+s.run.Webhookd.APIMetrics+"/metrics", "go_goroutines")
	return int(n)
}

// rssMB is a process's resident set in MB (0 once it is gone).
func rssMB(pid int) float64 { return round1(float64(proc.StatusKB(pid, "VmRSS")) / 1024) }
