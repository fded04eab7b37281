package bench

// Receivers: HTTP servers on 127.0.0.1 standing in for customer endpoints.
// The healthy one verifies every signature with the official Standard
// Webhooks library and records when each message arrived; the slow one never
// answers within the delivery timeout.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// delivery is one verified message as the receiver got it.
type delivery struct {
	hook    string
	eventID string
	at      time.Time
}

// collector gathers the deliveries of one measurement. It accepts only
// events whose id starts with its prefix; anything else is a stray.
type collector struct {
	prefix string

	mu     sync.Mutex
	got    map[string]delivery // by webhook-id: a retry of a message counts once
	dups   int
	strays int
	expect int
	done   chan struct{}
	closed bool
}

func newCollector(prefix string) *collector {
	return &collector{prefix: prefix, got: map[string]delivery{}, expect: -1, done: make(chan struct{})}
}

func (c *collector) record(msgID string, d delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !strings.HasPrefix(d.eventID, c.prefix) {
		c.strays++
		return
	}
	if _, seen := c.got[msgID]; seen {
		c.dups++
		return
	}
	c.got[msgID] = d
	c.checkLocked()
}

func (c *collector) checkLocked() {
	if !c.closed && c.expect >= 0 && len(c.got) >= c.expect {
		c.closed = true
		close(c.done)
	}
}

// wait sets how many deliveries make the measurement complete and waits for
// them until within has passed, or until nothing new arrived for stall. It
// returns the deliveries so far.
func (c *collector) wait(ctx context.Context, expect int, within, stall time.Duration) []delivery {
	c.mu.Lock()
	c.expect = expect
	c.checkLocked()
	c.mu.Unlock()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastChange := -1, time.Now()
	for {
		select {
		case <-c.done:
			return c.snapshot()
		case <-deadline.C:
			return c.snapshot()
		case <-ctx.Done():
			return c.snapshot()
		case <-tick.C:
			c.mu.Lock()
			n := len(c.got)
			c.mu.Unlock()
			if n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) >= stall {
				return c.snapshot()
			}
		}
	}
}

func (c *collector) snapshot() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]delivery, 0, len(c.got))
	for _, d := range c.got {
		out = append(out, d)
	}
	return out
}

func (c *collector) counts() (dups, strays int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dups, c.strays
}

// hook is one receiving endpoint: its verifier and current collector, or
// the storm counter when it is a failing endpoint of the storm phase.
type hook struct {
	wh    *standardwebhooks.Webhook
	col   atomic.Pointer[collector]
	storm atomic.Pointer[stormCounter]
}

// receiver is the healthy endpoint server: POST /h/{key}.
type receiver struct {
	srv  *http.Server
	base string

	mu    sync.RWMutex
	hooks map[string]*hook

	verifyFailures atomic.Int64
	unknown        atomic.Int64
	lastFailure    atomic.Value // string
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{base: "http://" + ln.Addr().String(), hooks: map[string]*hook{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// url is the callback URL of a hook key.
func (r *receiver) url(key string) string { return r.base + "/h/" + key }

// register adds (or replaces) the secret of a hook key.
func (r *receiver) register(key, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[key]
	if h == nil {
		h = &hook{}
		r.hooks[key] = h
	}
	h.wh = wh
	return nil
}

// failInto makes the given hook keys answer every verified POST with 500
// and count it in sc.
func (r *receiver) failInto(sc *stormCounter, keys ...string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range keys {
		if h := r.hooks[k]; h != nil {
			h.storm.Store(sc)
		}
	}
}

// collect routes the deliveries of the given hook keys to c.
func (r *receiver) collect(c *collector, keys ...string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range keys {
		if h := r.hooks[k]; h != nil {
			h.col.Store(c)
		}
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	key, ok := strings.CutPrefix(req.URL.Path, "/h/")
	r.mu.RLock()
	h := r.hooks[key]
	var wh *standardwebhooks.Webhook
	if h != nil {
		wh = h.wh
	}
	r.mu.RUnlock()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if !ok || h == nil || wh == nil || err != nil || req.Method != http.MethodPost {
		r.unknown.Add(1)
		http.Error(w, "unknown hook", http.StatusNotFound)
		return
	}
	if err := wh.Verify(body, req.Header); err != nil {
		r.verifyFailures.Add(1)
		r.lastFailure.Store(err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var p struct {
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.EventID == "" {
		r.verifyFailures.Add(1)
		r.lastFailure.Store("payload without eventId")
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	now := time.Now()
	if sc := h.storm.Load(); sc != nil {
		sc.record(key, req.Header.Get("webhook-id"), now)
		http.Error(w, "storm: failing on purpose", http.StatusInternalServerError)
		return
	}
	if c := h.col.Load(); c != nil {
		c.record(req.Header.Get("webhook-id"), delivery{hook: key, eventID: p.EventID, at: now})
	} else {
		r.unknown.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = r.srv.Close()
	}
}

// slowReceiver never answers within the delivery timeout: it holds each
// request until the sender gives up (or maxHold passes).
type slowReceiver struct {
	srv     *http.Server
	base    string
	hits    atomic.Int64
	maxHold time.Duration
}

func startSlowReceiver(maxHold time.Duration) (*slowReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &slowReceiver{base: "http://" + ln.Addr().String(), maxHold: maxHold}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *slowReceiver) url(key string) string { return s.base + "/slow/" + key }

func (s *slowReceiver) serve(w http.ResponseWriter, req *http.Request) {
	s.hits.Add(1)
	_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
	t := time.NewTimer(s.maxHold)
	defer t.Stop()
	select {
	case <-req.Context().Done():
	case <-t.C:
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (s *slowReceiver) close() { _ = s.srv.Close() }
