// Package restclient is a small typed client of the REST API for the
// harness: the e2e helpers, the fault suite and the benchmarks call the API
// through it, with one copy of the API's JSON (checked against the OpenAPI
// document by this package's test).
package restclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client calls one API as one key.
type Client struct {
	BaseURL string // http://host:port
	Key     string
	HTTP    *http.Client // http.DefaultClient when nil
}

// Error is the API's error object, with the answer's status.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
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
		return &e.Error
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// WebhookInput is the body of POST /v1/webhooks (WebhookCreate).
type WebhookInput struct {
	Name           string   `json:"name"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"eventTypes"`
	TriggerSources []string `json:"triggerSources"`
	AppIDs         []string `json:"appIds,omitempty"`
	Enabled        *bool    `json:"enabled,omitempty"`
	// Receiver protection (zero: the defaults).
	MaxConcurrency     int     `json:"maxConcurrency,omitempty"`
	RateLimitPerSecond float64 `json:"rateLimitPerSecond,omitempty"`
}

// Webhook is a webhook as the API shows it; Secret only on creation.
type Webhook struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	URL                string     `json:"url"`
	EventTypes         []string   `json:"eventTypes"`
	TriggerSources     []string   `json:"triggerSources"`
	AppIDs             []string   `json:"appIds"`
	Status             string     `json:"status"`
	DisabledReason     string     `json:"disabledReason"`
	DisabledMessage    string     `json:"disabledMessage"`
	DisabledAt         *time.Time `json:"disabledAt"`
	Health             Health     `json:"health"`
	MaxConcurrency     int        `json:"maxConcurrency"`
	RateLimitPerSecond *float64   `json:"rateLimitPerSecond"`
	Throttle           Throttle   `json:"throttle"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`
	Secret             string     `json:"secret,omitempty"`
}

// Health is a webhook's endpoint health.
type Health struct {
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	ExhaustedDeliveries int        `json:"exhaustedDeliveries"`
	FailingSince        *time.Time `json:"failingSince"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt"`
}

// Throttle is the back-off a webhook's receiver asked for.
type Throttle struct {
	Throttled bool       `json:"throttled"`
	Until     *time.Time `json:"until"`
	Step      int        `json:"step"`
}

// Event is the body of POST /v1/events (PublishEvent).
type Event struct {
	ID            string          `json:"id,omitempty"`
	Type          string          `json:"type"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId,omitempty"`
	OccurredAt    *time.Time      `json:"occurredAt,omitempty"`
	Data          json.RawMessage `json:"data"`
}

// Published is the answer of POST /v1/events (PublishResult).
type Published struct {
	EventID    string `json:"eventId"`
	WorkflowID string `json:"workflowId"`
	Duplicate  bool   `json:"duplicate"`
}

// Delivery is a delivery as GET /v1/deliveries/{id} shows it.
type Delivery struct {
	ID             string     `json:"id"`
	EventID        string     `json:"eventId"`
	EventType      string     `json:"eventType"`
	WebhookID      string     `json:"webhookId"`
	MessageID      string     `json:"messageId"`
	Status         string     `json:"status"`
	StatusReason   string     `json:"statusReason"`
	AttemptCount   int        `json:"attemptCount"`
	Series         int        `json:"series"`
	LastStatusCode *int       `json:"lastStatusCode"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
	WorkflowID     string     `json:"workflowId"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	Attempts       []Attempt  `json:"attempts"`
}

// Attempt is one POST of a Delivery.
type Attempt struct {
	Series         int        `json:"series"`
	Number         int        `json:"number"`
	Try            int        `json:"try"`
	Outcome        string     `json:"outcome"`
	URL            string     `json:"url"`
	StartedAt      time.Time  `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt"`
	DurationMS     int        `json:"durationMs"`
	ResponseStatus *int       `json:"responseStatus"`
	ResponseBody   string     `json:"responseBody"`
	BodyBase64     string     `json:"responseBodyBase64"`
	Error          string     `json:"error"`
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
