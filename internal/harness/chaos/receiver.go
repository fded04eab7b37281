package chaos

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Receiver stands in for a customer endpoint on 127.0.0.1: it records every
// POST by its webhook-id header and answers 200, or 500 to the first
// FailFirst POSTs of each webhook-id, or to FailPercent % of all POSTs,
// chosen by a hash of Seed, the webhook-id and the POST's number for it (so
// a run's answers do not depend on the order POSTs race in). It can be
// taken down (listener closed) and brought back on the same port. With
// Delay it answers that late (a slow endpoint: a crash of the worker then
// often falls mid-POST), or only SlowPercent % of POSTs do (chosen the same
// way). With TLS it serves https; with Expect it checks every POST.
type Receiver struct {
	Name        string
	FailFirst   int
	FailPercent int
	Seed        uint64
	Delay       time.Duration
	SlowPercent int

	expect   func(r *http.Request, body []byte) string
	refusing *atomic.Bool
	endpoint

	mu          sync.Mutex
	webhookID   string
	verifier    *standardwebhooks.Webhook
	posts       []Post
	perMsg      map[string]int
	last        time.Time
	sigFailures int
	mismatches  int
	mismatchEx  []string
}

// StartReceiver listens on a free loopback port.
func StartReceiver(s ReceiverSpec, seed uint64) (*Receiver, error) {
	r := &Receiver{Name: s.Name, FailFirst: s.FailFirst, FailPercent: s.FailPercent, Seed: seed, Delay: s.Delay,
		SlowPercent: s.SlowPercent, expect: s.Expect, refusing: s.Refusing, perMsg: map[string]int{}}
	r.endpoint = endpoint{name: "receiver " + s.Name, tls: s.TLS, handler: http.HandlerFunc(r.serve)}
	if err := r.Up(); err != nil {
		return nil, err
	}
	return r, nil
}

// URL is the callback URL of the receiver: https://localhost:port with
// TLS (the name its certificate holds), http://127.0.0.1:port without.
func (r *Receiver) URL() string {
	addr := r.Addr()
	if r.tls != nil {
		_, port, _ := net.SplitHostPort(addr)
		return "https://localhost:" + port + "/hook"
	}
	return "http://" + addr + "/hook"
}

// Bind names the webhook whose deliveries this receiver gets, and its secret
// (signatures are verified; failures are counted, not refused).
func (r *Receiver) Bind(webhookID, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.webhookID, r.verifier = webhookID, wh
	return nil
}

// WebhookID is the bound webhook.
func (r *Receiver) WebhookID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.webhookID
}

// endpoint is an HTTP server on a loopback port that can be taken down
// (listener closed) and brought back on the same port: a receiver, or the
// receivers scenario's token endpoint.
type endpoint struct {
	name    string
	tls     *tls.Config // https when set
	handler http.Handler

	mu   sync.Mutex
	addr string // host:port once up; "" before: a free port
	srv  *http.Server
}

// Addr is the endpoint's host:port.
func (e *endpoint) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// Up (re)starts listening on the endpoint's port (a free one the first
// time), retrying for a few seconds while the port is still held.
func (e *endpoint) Up() error {
	addr := e.Addr()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}
	e.mu.Lock()
	e.addr, e.srv = ln.Addr().String(), srv
	e.mu.Unlock()
	if e.tls != nil {
		ln = tls.NewListener(ln, e.tls)
	}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Down closes the listener, lets the requests in progress get their answer
// (at most 2 s), and closes every connection.
func (e *endpoint) Down() {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
}

// Close stops the endpoint for good.
func (e *endpoint) Close() { e.Down() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil || req.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var p struct {
		EventID     string `json:"eventId"`
		OrderingKey string `json:"orderingKey"`
		Sequence    int64  `json:"sequence"`
	}
	_ = json.Unmarshal(body, &p)
	msg := req.Header.Get("webhook-id")
	r.mu.Lock()
	if r.verifier != nil && r.verifier.Verify(body, req.Header) != nil {
		r.sigFailures++
	}
	if r.expect != nil {
		if problem := r.expect(req, body); problem != "" {
			r.mismatches++
			r.mismatchEx = addExample(r.mismatchEx, fmt.Sprintf("webhook-id %s: %s", msg, problem))
		}
	}
	r.perMsg[msg]++
	n := r.perMsg[msg]
	answer := http.StatusOK
	if n <= r.FailFirst || r.chosen(0, msg, n, r.FailPercent) || (r.refusing != nil && r.refusing.Load()) {
		answer = http.StatusInternalServerError
	}
	slow := r.Delay > 0 && (r.SlowPercent == 0 || r.chosen(1, msg, n, r.SlowPercent))
	r.last = time.Now()
	r.posts = append(r.posts, Post{WebhookID: r.webhookID, EventID: p.EventID, MessageID: msg, Answer: answer,
		OrderingKey: p.OrderingKey, Sequence: p.Sequence, At: r.last})
	r.mu.Unlock()
	// Recorded before answering: a POST the worker saw answered is always
	// in the record.
	if slow {
		time.Sleep(r.Delay)
	}
	w.WriteHeader(answer)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// chosen says whether the n-th POST of msg is one of the percent % a rule
// picks (rule 0: the refusals of FailPercent, 1: the slow answers of
// SlowPercent), by a hash of the seed, the rule, n and msg.
func (r *Receiver) chosen(rule uint64, msg string, n, percent int) bool {
	if percent <= 0 {
		return false
	}
	h := fnv.New64a()
	seed := [2]uint64{r.Seed, uint64(n)}
	if rule > 0 {
		// Rule 0 hashes as before this rule existed: a seed's refusals stay put.
		seed[0] ^= rule * 0x9e3779b97f4a7c15
	}
	_ = binary.Write(h, binary.LittleEndian, seed)
	_, _ = io.WriteString(h, msg)
	return h.Sum64()%100 < uint64(percent)
}

// Mismatches is how many POSTs Expect found wrong, with examples.
func (r *Receiver) Mismatches() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mismatches, append([]string(nil), r.mismatchEx...)
}

// Posts returns every POST so far.
func (r *Receiver) Posts() []Post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Post(nil), r.posts...)
}

// Stats returns the POST count, the time of the last one and the signature
// failures.
func (r *Receiver) Stats() (n int, last time.Time, sigFailures int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.posts), r.last, r.sigFailures
}

// Receivers is a set of receivers.
type Receivers []*Receiver

// Posts returns every POST of every receiver.
func (rs Receivers) Posts() []Post {
	var out []Post
	for _, r := range rs {
		out = append(out, r.Posts()...)
	}
	return out
}

// Quiet says how long no receiver got a POST.
func (rs Receivers) Quiet() time.Duration {
	var last time.Time
	for _, r := range rs {
		if _, l, _ := r.Stats(); l.After(last) {
			last = l
		}
	}
	if last.IsZero() {
		return time.Hour
	}
	return time.Since(last)
}

// SigFailures sums the signature failures.
func (rs Receivers) SigFailures() int {
	n := 0
	for _, r := range rs {
		_, _, f := r.Stats()
		n += f
	}
	return n
}

// Close closes every receiver.
func (rs Receivers) Close() {
	for _, r := range rs {
		r.Close()
	}
}

// downFor takes r down for d (bounded by ctx), then brings it back.
func downFor(ctx context.Context, r interface {
	Down()
	Up() error
}, d time.Duration) error {
	r.Down()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	if err := r.Up(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}
