// Package resource is the REST API's JSON: one Go type per resource, used
// by the API to answer, by the console to render the same views (convert.go
// builds them from the store's rows), and by the harness's REST client. The OpenAPI document (internal/api/openapi.json)
// describes the same shapes; tests hold them together.
package resource

import (
	"encoding/json"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// Webhook is a webhook as the API shows it: never its secret.
type Webhook struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"eventTypes"`
	TriggerSources []string `json:"triggerSources"`
	AppIDs         []string `json:"appIds"`
	// Filter is the payload filter, a CEL expression; "" is none.
	Filter string `json:"filter"`
	Status string `json:"status"` // enabled or disabled
	// DisabledReason (manual, auto_disabled_failing, receiver_gone) and
	// DisabledMessage say why a disabled webhook is.
	DisabledReason  string     `json:"disabledReason,omitempty"`
	DisabledMessage string     `json:"disabledMessage,omitempty"`
	DisabledAt      *time.Time `json:"disabledAt,omitempty"`
	Health          Health     `json:"health"`
	// MaxConcurrency and RateLimitPerSecond (null: none) protect the
	// receiver; Throttle is the back-off its answers asked for.
	MaxConcurrency     int      `json:"maxConcurrency"`
	RateLimitPerSecond *float64 `json:"rateLimitPerSecond"`
	Throttle           Throttle `json:"throttle"`
	// Ordered: each ordering key's events are delivered one after
	// another, in order; OrderedOnFailure (continue or hold) is what a
	// give-up does to the key.
	Ordered          bool      `json:"ordered"`
	OrderedOnFailure string    `json:"orderedOnFailure"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	// The delivery options: the receiver's time to answer (null: the
	// global DELIVERY_TIMEOUT), the retry schedule (null: the global
	// one) and the payload form (full or thin).
	TimeoutSeconds *int           `json:"timeoutSeconds"`
	RetrySchedule  *schedule.Spec `json:"retrySchedule"`
	Payload        string         `json:"payload"`
	// TraceContext: each attempt carries its W3C traceparent.
	TraceContext bool `json:"traceContext"`
	// Headers and Auth: the receiver options (receiver.go), never a
	// secret.
	Headers []Header `json:"headers"`
	Auth    Auth     `json:"auth"`
	// TLS: mutual TLS and the private CA bundle, never the key.
	TLS TLS `json:"tls"`
}

// Enabled reports the webhook's status.
func (w Webhook) Enabled() bool { return w.Status == "enabled" }

// Health is a webhook's endpoint health: State is healthy, failing or
// disabled.
type Health struct {
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	ExhaustedDeliveries int        `json:"exhaustedDeliveries"`
	FailingSince        *time.Time `json:"failingSince"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt"`
}

// Throttle is a webhook's throttle: throttled while Until is ahead
// (nothing is sent to it before then); Step counts the throttling answers
// (429, 502, 503, 504, Retry-After) in a row, each doubling the back-off.
type Throttle struct {
	Throttled bool       `json:"throttled"`
	Until     *time.Time `json:"until"`
	Step      int        `json:"step"`
}

// WebhookWithSecret is a webhook just created, with its secret (shown
// here and by GET /v1/webhooks/{id}/secret only).
type WebhookWithSecret struct {
	Webhook
	Secret string `json:"secret"`
}

// Delivery is one event's delivery to one webhook.
type Delivery struct {
	ID             string          `json:"id"`
	EventID        string          `json:"eventId"`
	EventType      string          `json:"eventType"`
	WebhookID      string          `json:"webhookId"`
	MessageID      string          `json:"messageId"`
	Status         delivery.Status `json:"status"`
	StatusReason   string          `json:"statusReason,omitempty"`
	AttemptCount   int             `json:"attemptCount"`
	Series         int             `json:"series"`
	LastStatusCode *int            `json:"lastStatusCode"`
	NextAttemptAt  *time.Time      `json:"nextAttemptAt"`
	WorkflowID     string          `json:"workflowId"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	TriggerSource  string          `json:"triggerSource,omitempty"`
	// OrderingKey and Sequence are the event's place among its key's
	// events; WaitingFor is what a waiting delivery waits for; an ordered
	// webhook's failed delivery OrderReleased no longer holds its key.
	OrderingKey   string      `json:"orderingKey,omitempty"`
	Sequence      int64       `json:"sequence,omitempty"`
	WaitingFor    *WaitingFor `json:"waitingFor,omitempty"`
	OrderReleased bool        `json:"orderReleased,omitempty"`
	// Test: a delivery of a test send or a "send example" (one attempt,
	// marked "test" in its payload too), not of a published event.
	Test     bool      `json:"test,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
}

// WaitingFor is what a waiting delivery waits for: an earlier event of its
// key not recorded yet (EventID only), or an earlier delivery of the key
// to the same webhook not finished, or failed and holding the key.
type WaitingFor struct {
	EventID    string `json:"eventId,omitempty"`
	DeliveryID string `json:"deliveryId,omitempty"`
}

// Attempt is one HTTP request of a delivery. Try above 1 marks the same
// attempt number sent again after the worker making it was lost; outcome
// "unknown" is a request whose worker stopped before recording the answer
// (the receiver may have it).
type Attempt struct {
	Series         int        `json:"series"`
	Number         int        `json:"number"`
	Try            int        `json:"try"`
	Outcome        string     `json:"outcome"` // answered, error or unknown
	URL            string     `json:"url"`
	StartedAt      time.Time  `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt"`
	DurationMS     int        `json:"durationMs"`
	ResponseStatus *int       `json:"responseStatus"`
	// ResponseBody is the answer as text (invalid UTF-8 shown as U+FFFD);
	// ResponseBodyBase64 has its exact bytes when they are not valid UTF-8.
	ResponseBody       string `json:"responseBody"`
	ResponseBodyBase64 string `json:"responseBodyBase64,omitempty"`
	Error              string `json:"error,omitempty"`
	// AuthMethod is how the request authenticated: none, basic, bearer
	// or oauth2 (never its credentials).
	AuthMethod string `json:"authMethod"`
	// Proxy is the forward proxy the request went through (host:port,
	// never its credentials); absent: direct.
	Proxy string `json:"proxy,omitempty"`
	// ClientCertificateSHA256 is the fingerprint of the client certificate
	// the request's TLS handshake had to present (mutual TLS); absent: none.
	ClientCertificateSHA256 string `json:"clientCertificateSha256,omitempty"`
}

// Event is a published event with its deliveries.
type Event struct {
	EventHead
	Deliveries []Delivery `json:"deliveries"`
}

// EventHead is an event without its deliveries: an item of GET /v1/events.
type EventHead struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId,omitempty"`
	OccurredAt    time.Time       `json:"occurredAt"`
	Data          json.RawMessage `json:"data"`
	WorkflowID    string          `json:"workflowId"`
	CreatedAt     time.Time       `json:"createdAt"`
	// DispatchedAt is when its workflow recorded the event; while it is
	// null, DispatchError says why the last start failed (if it did).
	DispatchedAt  *time.Time `json:"dispatchedAt"`
	DispatchError string     `json:"dispatchError,omitempty"`
	OrderingKey   string     `json:"orderingKey,omitempty"`
	Sequence      int64      `json:"sequence,omitempty"`
	// SchemaVersion is the version of its type's JSON Schema the data was
	// checked against when accepted (absent: accepted before schemas).
	SchemaVersion *int `json:"schemaVersion,omitempty"`
	// Test: a test send or a "send example".
	Test bool `json:"test,omitempty"`
}

// Released is the answer to POST /v1/webhooks/{id}/release.
type Released struct {
	// Released lists the failed deliveries that no longer hold the key;
	// Woken counts the waiting deliveries told to go on.
	Released []string `json:"released"`
	Woken    int      `json:"woken"`
}

// Published is the answer to POST /v1/events.
type Published struct {
	EventID    string `json:"eventId"`
	WorkflowID string `json:"workflowId"`
	Duplicate  bool   `json:"duplicate"`
}

// Page is one page of a list; NextCursor is null on the last.
type Page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// Enabled is the answer to POST /v1/webhooks/{id}/enable: the webhook,
// what it missed while disabled, and what was replayed of it.
type Enabled struct {
	Webhook
	Missed int         `json:"missedDeliveries"`
	Replay *BulkResend `json:"replay,omitempty"`
}

// BulkResend is what a bulk resend (or a replay) did.
type BulkResend struct {
	Resent []string         `json:"resent"`
	Errors []BulkResendFail `json:"errors"`
	// More says that more deliveries matched than one call resends: call
	// again (the resent ones no longer match: they are pending again).
	More bool `json:"more"`
}

// BulkResendFail is a delivery a bulk resend could not resend.
type BulkResendFail struct {
	DeliveryID string `json:"deliveryId"`
	Code       string `json:"code"`
	Message    string `json:"message"`
}

// SecretReset is the answer to POST /v1/webhooks/{id}/secret/reset.
type SecretReset struct {
	Webhook Webhook `json:"webhook"`
	Secret  string  `json:"secret"`
	// PreviousSecretExpiresAt is when the previous secret stops signing
	// (absent: it stopped at once).
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
}

// TestAttempt is what a test send did (POST /v1/webhooks/{id}/test): of a
// WEBHOOK_TEST event, or of the sample of EventType ("send example").
type TestAttempt struct {
	EventID    string `json:"eventId"`
	EventType  string `json:"eventType"`
	DeliveryID string `json:"deliveryId"`
	Success    bool   `json:"success"`
	StatusCode int    `json:"statusCode"`
	DurationMS int64  `json:"durationMs"`
	Error      string `json:"error"`
}

// FilterVerdict is POST /v1/webhooks/filter-test's answer: whether the
// filter passes the sample event; Error, when it could not be evaluated
// on it (the worker then does not deliver the event: an error is no
// match); Cost, the filter's estimated cost at most, against CostLimit.
type FilterVerdict struct {
	Matches   bool   `json:"matches"`
	Error     string `json:"error,omitempty"`
	Cost      uint64 `json:"cost"`
	CostLimit uint64 `json:"costLimit"`
}
