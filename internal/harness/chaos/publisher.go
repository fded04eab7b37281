package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Event type and trigger source of every event the suite publishes.
const (
	EventType     = "ENVELOPE_SIGNER_SIGNED"
	TriggerSource = "saas_page"
)

// Publisher publishes events through POST /v1/events at a steady rate. Each
// event is retried with the same id (publishing is idempotent) on 5xx and
// connection errors until a 2xx or until GiveUp has passed.
type Publisher struct {
	APIURL string
	Key    string
	Prefix string        // event ids are Prefix + sequence number
	Rate   float64       // events per second
	GiveUp time.Duration // per event
	Max    int           // at most this many events (0: no bound but ctx)
	// Data is the data of event i (nil: an envelope id, status and i).
	Data func(i int) map[string]any

	hc *http.Client

	mu        sync.Mutex
	accepted  []string
	failed    []string
	rejected  []string // 4xx other than 408/429: a bug of the suite or the API
	retries   int
	firstErrs []string
}

// PublishStats is what the publisher did.
type PublishStats struct {
	Published   int      `json:"published"`
	Accepted    int      `json:"accepted"`
	NeverAccept int      `json:"neverAccepted"`
	Rejected    int      `json:"rejected"`
	Retries     int      `json:"publishRetries"`
	Errors      []string `json:"publishErrorExamples,omitempty"`
}

// publisher is the load of a scenario: Publisher or KeyedPublisher.
type publisher interface {
	Run(ctx context.Context, stop <-chan struct{})
	Accepted() []string
	Stats() PublishStats
}

func (p *Publisher) init() {
	p.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
}

// Run publishes until stop is closed or ctx ends, then waits for the events
// still being retried (each bounded by GiveUp).
func (p *Publisher) Run(ctx context.Context, stop <-chan struct{}) {
	p.init()
	every := time.Duration(float64(time.Second) / p.Rate)
	paced(ctx, stop, every, func(i int) bool { return p.Max == 0 || i < p.Max }, func(i int) {
		p.one(ctx, fmt.Sprintf("%s%05d", p.Prefix, i), i)
	})
}

// paced calls start(i) in a goroutine of its own for i = 0, 1, … while
// more(i), one every interval, until stop is closed or ctx ends; then it
// waits for the calls in progress.
func paced(ctx context.Context, stop <-chan struct{}, every time.Duration, more func(int) bool, start func(int)) {
	t := time.NewTicker(every)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; more(i); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start(i)
		}()
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (p *Publisher) one(ctx context.Context, id string, i int) {
	data := eventData(fmt.Sprintf("env_%06d", i), "seq", i)
	if p.Data != nil {
		data = p.Data(i)
	}
	body, _ := json.Marshal(map[string]any{"id": id, "type": EventType, "triggerSource": TriggerSource, "data": data})
	p.publish(ctx, id, body)
}

// publish posts body until it is accepted (true), refused with a 4xx, or
// GiveUp has passed.
func (p *Publisher) publish(ctx context.Context, id string, body []byte) bool {
	deadline := time.Now().Add(p.GiveUp)
	wait := 250 * time.Millisecond
	for try := 0; ; try++ {
		status, err := p.post(ctx, body)
		switch {
		case err == nil && status >= 200 && status < 300:
			p.mu.Lock()
			p.accepted = append(p.accepted, id)
			p.mu.Unlock()
			return true
		case err == nil && status >= 400 && status < 500 && status != 408 && status != 429:
			p.note(id, fmt.Sprintf("HTTP %d", status))
			p.mu.Lock()
			p.rejected = append(p.rejected, id)
			p.mu.Unlock()
			return false
		}
		if err == nil {
			err = fmt.Errorf("HTTP %d", status)
		}
		if try == 0 {
			p.note(id, err.Error())
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			p.mu.Lock()
			p.failed = append(p.failed, id)
			p.mu.Unlock()
			return false
		}
		p.mu.Lock()
		p.retries++
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func (p *Publisher) note(id, err string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.firstErrs) < 5 {
		p.firstErrs = append(p.firstErrs, id+": "+err)
	}
}

func (p *Publisher) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.APIURL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

// Accepted returns the ids of the events answered 2xx.
func (p *Publisher) Accepted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.accepted...)
}

// Stats summarises the run.
func (p *Publisher) Stats() PublishStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PublishStats{
		Published: len(p.accepted) + len(p.failed) + len(p.rejected), Accepted: len(p.accepted),
		NeverAccept: len(p.failed), Rejected: len(p.rejected), Retries: p.retries,
		Errors: append([]string(nil), p.firstErrs...),
	}
}

// KeyedPublisher publishes envelopes: PerKey events of one ordering key,
// each only once the one before it was accepted (so the API stores, and
// numbers, them in the order of their ids), a new key every PerKey/Rate
// seconds, at most Keys. Event n of key k is Prefix+"k%04d-%d"; its data
// names the key and n.
type KeyedPublisher struct {
	*Publisher
	Keys, PerKey int
}

// Run starts keys until stop is closed or ctx ends (or Keys were started),
// then waits for the keys in progress: a key once started is published to
// its end, so a run never stops in the middle of an envelope.
func (k *KeyedPublisher) Run(ctx context.Context, stop <-chan struct{}) {
	k.init()
	every := time.Duration(float64(k.PerKey) / k.Rate * float64(time.Second))
	paced(ctx, stop, every, func(i int) bool { return i < k.Keys }, func(i int) { k.key(ctx, i) })
}

// key publishes the events of key i in order. It stops at an event never
// accepted: the API may still store it late, after a later one would have
// taken the next number.
func (k *KeyedPublisher) key(ctx context.Context, i int) {
	key := fmt.Sprintf("%sk%04d", k.Prefix, i)
	for n := 1; n <= k.PerKey; n++ {
		id := fmt.Sprintf("%s-%d", key, n)
		body, _ := json.Marshal(map[string]any{
			"id": id, "type": EventType, "triggerSource": TriggerSource, "orderingKey": key,
			"data": eventData(key, "n", n),
		})
		if !k.publish(ctx, id, body) {
			return
		}
	}
}

// eventData is the data of an EventType event of envelope env, valid
// against the type's schema, carrying the publisher's counter as member
// name.
func eventData(env, name string, n int) map[string]any {
	return map[string]any{"envelopeId": env, "envelopeStatus": 1, name: n,
		"signerInfo": map[string]any{"userEmail": "signer@customer-example.com", "signerStatus": 2}}
}
