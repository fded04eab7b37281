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

	hc *http.Client

	mu        sync.Mutex
	accepted  []string
	failed    []string
	rejected  []string // 4xx other than 408/429: a bug of the suite or the API
	retries   int
	firstErrs []string
	wg        sync.WaitGroup
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

// Run publishes until stop is closed or ctx ends, then waits for the events
// still being retried (each bounded by GiveUp).
func (p *Publisher) Run(ctx context.Context, stop <-chan struct{}) {
	p.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
	every := time.Duration(float64(time.Second) / p.Rate)
	t := time.NewTicker(every)
	defer t.Stop()
loop:
	for i := 0; p.Max == 0 || i < p.Max; i++ {
		id := fmt.Sprintf("%s%05d", p.Prefix, i)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.one(ctx, id, i)
		}()
		select {
		case <-ctx.Done():
			break loop
		case <-stop:
			break loop
		case <-t.C:
		}
	}
	p.wg.Wait()
}

func (p *Publisher) one(ctx context.Context, id string, i int) {
	body, _ := json.Marshal(map[string]any{
		"id": id, "type": EventType, "triggerSource": TriggerSource,
		"data": map[string]any{"envelopeId": fmt.Sprintf("env_%06d", i), "envelopeStatus": 1, "seq": i},
	})
	deadline := time.Now().Add(p.GiveUp)
	wait := 250 * time.Millisecond
	for try := 0; ; try++ {
		status, err := p.post(ctx, body)
		switch {
		case err == nil && status >= 200 && status < 300:
			p.mu.Lock()
			p.accepted = append(p.accepted, id)
			p.mu.Unlock()
			return
		case err == nil && status >= 400 && status < 500 && status != 408 && status != 429:
			p.note(id, fmt.Sprintf("HTTP %d", status))
			p.mu.Lock()
			p.rejected = append(p.rejected, id)
			p.mu.Unlock()
			return
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
			return
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
