package chaos

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// Webhookd runs the webhookd processes of a scenario: one `serve`, or `api`
// and `worker` (split mode). Restarts reuse the same address and log files.
type Webhookd struct {
	Bin    string
	Env    []string
	APIURL string // http://HTTP_ADDR
	LogDir string
	// APIMetrics is METRICS_ADDR of the process serving the API (serve or
	// api), empty for none; the worker serves no metrics here.
	APIMetrics string

	Serve, API, Worker *proc.Proc
}

func (w *Webhookd) start(ctx context.Context, role string) (*proc.Proc, error) {
	env := w.Env
	if role != "worker" && w.APIMetrics != "" {
		env = append(env[:len(env):len(env)], "METRICS_ADDR="+w.APIMetrics)
	}
	p, err := proc.Start("webhookd "+role, w.Bin, []string{role}, env, w.LogDir+"/webhookd-"+role+".log")
	if err != nil {
		return nil, err
	}
	if role != "worker" {
		if err := proc.WaitReady(ctx, w.APIURL, p, 60*time.Second); err != nil {
			return p, err
		}
	}
	return p, nil
}

// StartServe starts `webhookd serve` and waits until /readyz answers 200.
func (w *Webhookd) StartServe(ctx context.Context) (err error) {
	w.Serve, err = w.start(ctx, "serve")
	return err
}

// StartAPI starts `webhookd api` and waits until it is ready.
func (w *Webhookd) StartAPI(ctx context.Context) (err error) {
	w.API, err = w.start(ctx, "api")
	return err
}

// StartWorker starts `webhookd worker`.
func (w *Webhookd) StartWorker(ctx context.Context) (err error) {
	w.Worker, err = w.start(ctx, "worker")
	return err
}

// startAll starts `webhookd serve`, or `api` and `worker` when split.
func (w *Webhookd) startAll(ctx context.Context, split bool) error {
	if !split {
		return w.StartServe(ctx)
	}
	if err := w.StartWorker(ctx); err != nil {
		return err
	}
	return w.StartAPI(ctx)
}

// describe names the processes running and their pids.
func (w *Webhookd) describe() string {
	if w.Serve != nil {
		return fmt.Sprintf("serve pid %d", w.Serve.PID())
	}
	return fmt.Sprintf("api pid %d, worker pid %d", w.API.PID(), w.Worker.PID())
}

// SwitchToSplit stops `serve` gracefully and starts `api` and `worker`.
func (w *Webhookd) SwitchToSplit(ctx context.Context) error {
	w.Serve.Stop(20 * time.Second)
	w.Serve = nil
	if err := w.StartWorker(ctx); err != nil {
		return err
	}
	return w.StartAPI(ctx)
}

// APIPID is the pid of the process serving the API now.
func (w *Webhookd) APIPID() int {
	if w.API != nil {
		return w.API.PID()
	}
	if w.Serve != nil {
		return w.Serve.PID()
	}
	return 0
}

// StopAll stops every webhookd process.
func (w *Webhookd) StopAll() {
	for _, p := range []*proc.Proc{w.Serve, w.API, w.Worker} {
		p.Stop(15 * time.Second)
	}
}

// CreateWebhook creates a webhook for the suite's events through the REST
// API and returns its id and secret.
func CreateWebhook(ctx context.Context, apiURL, key string, in restclient.WebhookInput) (id, secret string, err error) {
	c := &restclient.Client{BaseURL: apiURL, Key: key, HTTP: &http.Client{Timeout: 10 * time.Second}}
	// Types in in.EventTypes come on top (the notices scenario's webhooks
	// also subscribe to the operational events).
	in.EventTypes, in.TriggerSources = append([]string{EventType}, in.EventTypes...), []string{TriggerSource}
	w, err := c.CreateWebhook(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("POST /v1/webhooks: %w", err)
	}
	return w.ID, w.Secret, nil
}
