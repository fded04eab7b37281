// Package restclient is a small typed client of the REST API for the
// harness: the e2e helpers, the fault suite and the benchmarks call the API
// through it. Answers are the API's own types (package resource); the
// request bodies here are checked against the OpenAPI document.
package restclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// Client calls one API as one key.
type Client struct {
	BaseURL string // http://host:port
	Key     string
	HTTP    *http.Client // http.DefaultClient when nil
}

// Error is the API's error object, with the answer's status.
type Error struct {
	Status int `json:"-"`
	// RetryAfter is the answer's Retry-After (a 429's wait), 0 when absent.
	RetryAfter time.Duration     `json:"-"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message) }

// Do sends in as JSON (none when nil) and decodes a 2xx answer into out
// (unless nil); any other answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var e struct {
			Error Error `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		e.Error.Status = res.StatusCode
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
			e.Error.RetryAfter = time.Duration(secs) * time.Second
		}
		return &e.Error
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// WebhookInput is the body of POST /v1/webhooks (WebhookCreate): the
// service's own input type.
type WebhookInput = service.WebhookInput

// The API's answers, as the API itself declares them.
type (
	Webhook   = resource.WebhookWithSecret // Secret is empty but on creation
	Published = resource.Published
	Delivery  = resource.Delivery
	Attempt   = resource.Attempt
)

// Event is the body of POST /v1/events (PublishEvent).
type Event struct {
	ID            string          `json:"id,omitempty"`
	Type          string          `json:"type"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId,omitempty"`
	OccurredAt    *time.Time      `json:"occurredAt,omitempty"`
	Data          json.RawMessage `json:"data"`
	OrderingKey   string          `json:"orderingKey,omitempty"`
}

// CreateWebhook creates a webhook; the answer holds its secret.
func (c *Client) CreateWebhook(ctx context.Context, in WebhookInput) (Webhook, error) {
	var w Webhook
	return w, c.Do(ctx, http.MethodPost, "/v1/webhooks", in, &w)
}

// DisableWebhook disables a webhook.
func (c *Client) DisableWebhook(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/v1/webhooks/"+id+"/disable", nil, nil)
}

// Publish publishes an event.
func (c *Client) Publish(ctx context.Context, e Event) (Published, error) {
	var p Published
	return p, c.Do(ctx, http.MethodPost, "/v1/events", e, &p)
}

// Delivery fetches one delivery with its attempts.
func (c *Client) Delivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	return d, c.Do(ctx, http.MethodGet, "/v1/deliveries/"+id, nil, &d)
}

// CreateAPIKey creates a key of role and returns it (shown once).
func (c *Client) CreateAPIKey(ctx context.Context, role, label string) (string, error) {
	var k struct {
		Key string `json:"key"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/api-keys", map[string]string{"role": role, "label": label}, &k)
	return k.Key, err
}
