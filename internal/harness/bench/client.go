package bench

// The REST API client the bench drives webhookd with, and the event payload.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// apiClient calls the webhookd API as one account.
type apiClient struct {
	base string
	key  string
	hc   *http.Client
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// call sends body as JSON (nil: none) and decodes a 2xx answer into out
// when non-nil; any other answer is an error.
func (a *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	for {
		err := a.callOnce(ctx, method, path, body, out)
		// The bench runs with the API's default limits: like a well-behaved
		// client it waits out a 429 (setup creates a thousand webhooks with
		// one key). The management phase counts them instead (callOnce).
		if wait := limitedFor(err); wait > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
				continue
			}
		}
		return err
	}
}

// callOnce is call without waiting out a 429.
func (a *apiClient) callOnce(ctx context.Context, method, path string, body, out any) error {
	c := &restclient.Client{BaseURL: a.base, Key: a.key, HTTP: a.hc}
	if err := c.Do(ctx, method, path, body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// limitedFor is how long a 429 asks to wait, 0 for any other result.
func limitedFor(err error) time.Duration {
	var e *restclient.Error
	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
		return max(e.RetryAfter, time.Second)
	}
	return 0
}

// createWebhookFor creates a webhook subscribed to one event type (from
// triggerSource).
func (a *apiClient) createWebhookFor(ctx context.Context, name, url, typ string) (restclient.Webhook, error) {
	return a.createWebhookWith(ctx, restclient.WebhookInput{
		Name: name, URL: url, EventTypes: []string{typ}, TriggerSources: []string{triggerSource},
	})
}

func (a *apiClient) createWebhookWith(ctx context.Context, in restclient.WebhookInput) (restclient.Webhook, error) {
	var w restclient.Webhook
	err := a.call(ctx, http.MethodPost, "/v1/webhooks", in, &w)
	return w, err
}

func (a *apiClient) disableWebhook(ctx context.Context, id string) error {
	return a.call(ctx, http.MethodPost, "/v1/webhooks/"+id+"/disable", nil, nil)
}

func (a *apiClient) publish(ctx context.Context, eventID string, data json.RawMessage) error {
	_, err := a.publishType(ctx, eventID, eventType, data)
	return err
}

// publishType publishes an event of type typ (from triggerSource).
func (a *apiClient) publishType(ctx context.Context, eventID, typ string, data json.RawMessage) (restclient.Published, error) {
	return a.publishEvent(ctx, restclient.Event{ID: eventID, Type: typ, TriggerSource: triggerSource, Data: data})
}

// publishKeyed publishes an event with an ordering key.
func (a *apiClient) publishKeyed(ctx context.Context, eventID, key string, data json.RawMessage) error {
	_, err := a.publishEvent(ctx, restclient.Event{ID: eventID, Type: eventType, TriggerSource: triggerSource, Data: data, OrderingKey: key})
	return err
}

func (a *apiClient) publishEvent(ctx context.Context, ev restclient.Event) (restclient.Published, error) {
	var p restclient.Published
	err := a.call(ctx, http.MethodPost, "/v1/events", ev, &p)
	return p, err
}

// Every event of the bench is the same kind: what changes between scenarios
// is the proc.Account (and so the webhooks) it is published for.
const (
	eventType     = "ENVELOPE_SIGNER_SIGNED"
	triggerSource = "saas_page"
)

// eventData is a realistic ~1 KB ENVELOPE_SIGNER_SIGNED payload, valid
// against its type's schema (pkg/events/schemas): the product's members
// (envelopeStatus 1 in progress, signerInfo and signerList with
// signerStatus 2 signed / 1 in progress, Unix-millisecond times) plus the
// extra members a real sender adds.
func eventData(i int) json.RawMessage {
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC).Add(time.Duration(i) * time.Second)
	signer := func(n, status int) map[string]any {
		s := map[string]any{
			"businessId":   fmt.Sprintf("sgn_%08d_%d", i, n),
			"userName":     []string{"Jane Doe", "Rahul Mehta", "Amélie Laurent"}[n%3],
			"userEmail":    fmt.Sprintf("signer%d.%d@customer-example.com", n, i),
			"signOrder":    n + 1,
			"signerStatus": status,
		}
		if status == 2 {
			s["signedAt"] = at.UnixMilli()
			s["ipAddress"] = "203.0.113.42"
			s["userAgent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 Safari/605.1.15"
		}
		return s
	}
	brief := func(n, status int) map[string]any {
		return map[string]any{"userEmail": fmt.Sprintf("signer%d.%d@customer-example.com", n, i), "signOrder": n + 1, "signerStatus": status}
	}
	d := map[string]any{
		"envelopeId":        fmt.Sprintf("env_%012d", i),
		"envelopeName":      fmt.Sprintf("Master Services Agreement - Acme Corp #%d", i),
		"envelopeStatus":    1,
		"envelopeStartTime": at.Add(-26 * time.Hour).UnixMilli(),
		"expireTime":        at.Add(30 * 24 * time.Hour).UnixMilli(),
		"sender":            map[string]any{"userId": "usr_7f3a9c", "name": "Legal Ops", "email": "legal-ops@esign-customer.example"},
		"signerInfo":        signer(1, 2),
		"signerList":        []any{brief(0, 2), brief(1, 2), brief(2, 1)},
		"documents": []any{
			map[string]any{"documentId": fmt.Sprintf("doc_%d_1", i), "name": "MSA.pdf", "pages": 14},
			map[string]any{"documentId": fmt.Sprintf("doc_%d_2", i), "name": "Order Form.pdf", "pages": 3},
		},
		"metadata": map[string]any{"crmOpportunityId": fmt.Sprintf("0065g00000%06d", i), "department": "Sales"},
	}
	b, _ := json.Marshal(d)
	return b
}
