// Package events is the event catalogue, the trigger sources, and the event
// a publisher sends, checked against its type's JSON Schema (package
// schemas). It depends on the standard library and the schemas' validator
// only, so upstream services can import it.
package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event types from the e-signature product's webhook catalogue.
const (
	EnvelopeStart           = "ENVELOPE_START"
	EnvelopeSignerViewed    = "ENVELOPE_SIGNER_VIEWED"
	EnvelopeSignerSigned    = "ENVELOPE_SIGNER_SIGNED"
	EnvelopeAllSignerSigned = "ENVELOPE_ALL_SIGNER_SIGNED"
	SignerDeclined          = "SIGNER_DECLINED"
	EnvelopeFinish          = "ENVELOPE_FINISH"
	EnvelopeCancel          = "ENVELOPE_CANCEL"
	EnvelopeExpired         = "ENVELOPE_EXPIRED"
	// WebhookTest is sent by "send test event" only; nobody subscribes to it.
	WebhookTest = "WEBHOOK_TEST"
)

// Operational events about the webhooks themselves (endpoint health). Only
// the engine publishes them, with the trigger source SourceSystem; a
// webhook subscribes to them by type, whatever its trigger sources, and is
// never sent one about itself.
const (
	WebhookFailing    = "WEBHOOK_FAILING"
	WebhookDisabled   = "WEBHOOK_DISABLED"
	WebhookRecovered  = "WEBHOOK_RECOVERED"
	DeliveryExhausted = "DELIVERY_EXHAUSTED"
	// WebhookCertificateExpiring: a webhook's mTLS client certificate
	// expires within 14 days (once per certificate).
	WebhookCertificateExpiring = "WEBHOOK_CERTIFICATE_EXPIRING"
	// AuditLogged: a record was added to the account's audit log (a
	// change to its webhooks, keys or sign-ins); its data is the record
	// (AuditRecord), so an account can stream its log to a SIEM.
	AuditLogged = "AUDIT_LOGGED"
)

// Trigger sources a webhook can subscribe to.
const (
	SourceSaaSPage      = "saas_page"
	SourceThirdPartyApp = "third_party_app"
	// SourceSystem is the trigger source of the engine's own events.
	SourceSystem = "system"
)

// TypeInfo describes one event type.
type TypeInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// SearchKey names the member of the event's data (top level) whose
	// value is stored with the event in an indexed column, so the delivery
	// log finds the events of one envelope (GET /v1/deliveries?envelopeId=);
	// "" for none.
	SearchKey string `json:"searchKey,omitempty"`
}

// EnvelopeIDKey is the data member that names an event's envelope.
const EnvelopeIDKey = "envelopeId"

// MaxSearchKeyChars bounds the stored value of a SearchKey: a longer one is
// stored cut, and found by its first MaxSearchKeyChars characters.
const MaxSearchKeyChars = 200

// Catalogue is every event type a webhook can subscribe to.
var Catalogue = []TypeInfo{
	{Name: EnvelopeStart, Description: "The envelope was started: sent to its signers.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeSignerViewed, Description: "A signer opened the envelope.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeSignerSigned, Description: "One signer signed the envelope.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeAllSignerSigned, Description: "Every signer has signed the envelope.", SearchKey: EnvelopeIDKey},
	{Name: SignerDeclined, Description: "A signer declined to sign.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeFinish, Description: "The envelope ended: it is completed.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeCancel, Description: "The sender cancelled the envelope.", SearchKey: EnvelopeIDKey},
	{Name: EnvelopeExpired, Description: "The envelope expired before everyone signed.", SearchKey: EnvelopeIDKey},
}

// SearchKeyOf is the SearchKey of event type t ("" for none, or an
// unknown type).
func SearchKeyOf(t string) string {
	for _, c := range [][]TypeInfo{Catalogue, SystemCatalogue} {
		if i := slices.IndexFunc(c, func(i TypeInfo) bool { return i.Name == t }); i >= 0 {
			return c[i].SearchKey
		}
	}
	return ""
}

// SystemCatalogue is every operational event type (see WebhookFailing).
var SystemCatalogue = []TypeInfo{
	{Name: WebhookFailing, Description: "A webhook has been failing for 50, 75 or 90 % of the time (or failed deliveries) after which it is disabled."},
	{Name: WebhookDisabled, Description: "A webhook was disabled automatically: failing too long, or its receiver answered 410 Gone."},
	{Name: WebhookRecovered, Description: "A webhook that was reported failing delivered successfully again."},
	{Name: DeliveryExhausted, Description: "A delivery failed for good: every attempt of its retry schedule failed."},
	{Name: WebhookCertificateExpiring, Description: "A webhook's client certificate for mutual TLS expires within 14 days."},
	{Name: AuditLogged, Description: "A change to the account's webhooks, API keys or console sign-ins was recorded in its audit log."},
}

// IsSystemType reports whether t is an operational event type.
func IsSystemType(t string) bool {
	return slices.ContainsFunc(SystemCatalogue, func(i TypeInfo) bool { return i.Name == t })
}

// IsSubscribable reports whether a webhook may subscribe to t: a product
// event type or an operational one.
func IsSubscribable(t string) bool { return IsType(t) || IsSystemType(t) }

// TriggerSources lists the valid trigger sources with their meaning.
var TriggerSources = []TypeInfo{
	{Name: SourceSaaSPage, Description: "Triggered by users directly on the SaaS pages."},
	{Name: SourceThirdPartyApp, Description: "Triggered by a third-party system integrated through an APPID."},
}

// IsType reports whether t is a subscribable event type.
func IsType(t string) bool {
	return slices.ContainsFunc(Catalogue, func(i TypeInfo) bool { return i.Name == t })
}

// IsTriggerSource reports whether s is a valid trigger source.
func IsTriggerSource(s string) bool {
	return s == SourceSaaSPage || s == SourceThirdPartyApp
}

// Event is what a publisher sends: one thing that happened to an envelope.
// It is the one shape of an event from the request body (json) to the
// store's row (db: the server's column names) and the workflow's input.
type Event struct {
	// ID is the caller's idempotency key: publishing the same ID again
	// delivers nothing new. Generated when empty.
	ID            string          `json:"id" db:"id"`
	Type          string          `json:"type" db:"type"`
	TriggerSource string          `json:"triggerSource" db:"trigger_source"`
	AppID         string          `json:"appId,omitempty" db:"app_id"`
	OccurredAt    time.Time       `json:"occurredAt" db:"occurred_at"`
	Data          json.RawMessage `json:"data" db:"data"`
	// OrderingKey names the sequence the event belongs to (for e-sign, the
	// envelope id): a webhook that asks for order gets the events of one
	// key one after another, in the order they were stored. "" : none.
	OrderingKey string `json:"orderingKey,omitempty" db:"ordering_key"`
}

// MaxOrderingKeyBytes bounds an ordering key.
const MaxOrderingKeyBytes = 200

// DefaultMaxDataBytes bounds Data.
const DefaultMaxDataBytes = 256 << 10

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,200}$`)

// ValidID reports whether id is a valid event id; no stored event has
// another kind of id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// FieldErrors maps a JSON field name to what is wrong with it (a member
// of the data by its path: "data.signerInfo.userEmail").
type FieldErrors map[string]string

func (f FieldErrors) Error() string { return fmt.Sprintf("invalid event: %v", map[string]string(f)) }

// Problem is one thing wrong with an event.
type Problem struct {
	Field   string // as in FieldErrors: "type", "data.signerList[0].userEmail"
	Pointer string // a JSON pointer into the event: "/type", "/data/signerList/0/userEmail"
	Message string
}

// ValidationError is why an event is refused: each problem, in order (the
// event's own fields, then its data's, by place). errors.As finds its
// FieldErrors too.
type ValidationError struct {
	Problems []Problem
}

func (v *ValidationError) Error() string { return v.Fields().Error() }

// Unwrap lets errors.As(err, &FieldErrors{}) work as it did before
// problems had pointers.
func (v *ValidationError) Unwrap() error { return v.Fields() }

// Fields is v as FieldErrors (the first problem of each field).
func (v *ValidationError) Fields() FieldErrors {
	f := FieldErrors{}
	for _, p := range v.Problems {
		if _, seen := f[p.Field]; !seen {
			f[p.Field] = p.Message
		}
	}
	return f
}

// problems collects an event's problems as it is checked.
type problems []Problem

// add records a problem of a top-level field of the event.
func (ps *problems) add(field, msg string) {
	*ps = append(*ps, Problem{Field: field, Pointer: "/" + field, Message: msg})
}

func (ps problems) orNil() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// Origin is who made an event: it decides the types and trigger sources
// the event may have. The other rules are the same for every event.
type Origin int

// Origins of an event.
const (
	// FromPublisher: a client's event (the API, pkg/publish): a type of
	// the Catalogue, from a trigger source of TriggerSources.
	FromPublisher Origin = iota
	// FromTest: "send test event" or "send example" to one webhook:
	// WebhookTest or the sample of a subscribable type, from a trigger
	// source of TriggerSources (SourceSystem for an operational type).
	FromTest
	// FromEngine: an operational event the engine publishes: a type of
	// the SystemCatalogue, from SourceSystem.
	FromEngine
)

// Validate checks an event a publisher sends, as given (ID may still be
// empty); it returns nil or a *ValidationError. maxData <= 0 means
// DefaultMaxDataBytes.
func (e *Event) Validate(maxData int) error { return e.ValidateFrom(FromPublisher, maxData) }

// ValidateFrom is Validate for an event made by o. Its data is checked
// against its type's JSON Schema (package schemas) once it is a JSON
// object within bounds.
func (e *Event) ValidateFrom(o Origin, maxData int) error {
	ps := e.headProblems(o)
	switch msg := dataError(e.Data, maxData); {
	case msg != "":
		ps.add("data", msg)
	case typeError(o, e.Type) == "":
		ps = append(ps, schemaProblems(e.Type, e.Data)...)
	}
	return ps.orNil()
}

// ValidateHead is ValidateFrom without Data, for an event whose data
// travels apart: a stored event's workflow leaves it in the outbox, where
// it was checked when stored.
func (e *Event) ValidateHead(o Origin) error { return e.headProblems(o).orNil() }

// headProblems checks every field of e but Data.
func (e *Event) headProblems(o Origin) problems {
	var ps problems
	if e.ID != "" && !ValidID(e.ID) {
		ps.add("id", "must be 1-200 characters of letters, digits, '.', '_', ':' or '-'")
	}
	if msg := typeError(o, e.Type); msg != "" {
		ps.add("type", msg)
	}
	if field, msg := e.sourceError(o); msg != "" {
		ps.add(field, msg)
	}
	if len(e.AppID) > 200 || !printable(e.AppID) {
		ps.add("appId", "must be at most 200 printable ASCII characters")
	}
	if msg := orderingKeyError(o, e.OrderingKey); msg != "" {
		ps.add("orderingKey", msg)
	}
	// An offset can push a time given in years 0001-9999 outside them in
	// UTC, where it can no longer be encoded as RFC 3339 JSON (reading the
	// event back failed). Zero is "not given": Prepare fills it.
	if y := e.OccurredAt.UTC().Year(); !e.OccurredAt.IsZero() && (y < 1 || y > 9999) {
		ps.add("occurredAt", "must be between years 0001 and 9999 in UTC")
	}
	return ps
}

// orderingKeyError says what is wrong with k as the ordering key of an
// event made by o, or "".
func orderingKeyError(o Origin, k string) string {
	switch {
	case k == "":
	case o == FromTest:
		return "a test event has no ordering key"
	case len(k) > MaxOrderingKeyBytes:
		return fmt.Sprintf("must be at most %d bytes", MaxOrderingKeyBytes)
	case !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl):
		return "must be UTF-8 text without control characters"
	}
	return ""
}

// typeError says what is wrong with t as the type of an event made by o.
func typeError(o Origin, t string) string {
	switch {
	case t == "":
		return "is required"
	case o == FromTest:
		if t != WebhookTest && !IsSubscribable(t) {
			return fmt.Sprintf("must be %s or a subscribable type for a test event, not %q", WebhookTest, t)
		}
	case o == FromEngine:
		if !IsSystemType(t) {
			return fmt.Sprintf("unknown operational event type %q", t)
		}
	case IsSystemType(t):
		return fmt.Sprintf("%s is an operational event only webhookd itself sends", t)
	case !IsType(t):
		return fmt.Sprintf("unknown event type %q", t)
	}
	return ""
}

// sourceError says which field is wrong with e's trigger source (made by
// o), and how.
func (e *Event) sourceError(o Origin) (field, msg string) {
	switch {
	case e.TriggerSource == "":
		return "triggerSource", "is required"
	case o == FromEngine || o == FromTest && IsSystemType(e.Type):
		if e.TriggerSource != SourceSystem {
			return "triggerSource", "must be " + SourceSystem + " for an operational event"
		}
	case !IsTriggerSource(e.TriggerSource):
		return "triggerSource", fmt.Sprintf("unknown trigger source %q", e.TriggerSource)
	case e.TriggerSource == SourceThirdPartyApp && e.AppID == "":
		return "appId", "is required when triggerSource is third_party_app"
	}
	return "", ""
}

// dataError says what is wrong with data, or "".
func dataError(data json.RawMessage, maxData int) string {
	if maxData <= 0 {
		maxData = DefaultMaxDataBytes
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return "is required"
	case trimmed[0] != '{' || !json.Valid(trimmed):
		return "must be a JSON object"
	case len(trimmed) > maxData:
		return fmt.Sprintf("must be at most %d bytes", maxData)
	case hasNULEscape(trimmed):
		// Valid JSON, but PostgreSQL's jsonb cannot hold it.
		return `must not contain the NUL character (\u0000)`
	}
	return ""
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// hasNULEscape reports whether JSON text holds a \u0000 escape, i.e. one
// preceded by an even number of backslashes (`\\u0000` is an escaped
// backslash followed by the text "u0000").
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		n := 0
		for k := at - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = at + 1
	}
}
