package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The audit log (docs/audit.md): every operation that changes something,
// or shows a secret, hands the store a record (db.Audit) to write in the
// transaction of the change, then starts the record's AUDIT_LOGGED event.

// Actor is who a caller is, for the audit log, and from where.
type Actor struct {
	Type string // events.ActorAPIKey or events.ActorConsole
	ID   string // the API key's id, or the console session's db.SessionRef
	Name string // the API key's label, or "console"
	Addr string // the client's address
}

// Actions of the audit log: <resource>.<verb>.
const (
	ActionWebhookCreate     = "webhook.create"
	ActionWebhookUpdate     = "webhook.update"
	ActionWebhookEnable     = "webhook.enable"
	ActionWebhookDisable    = "webhook.disable"
	ActionWebhookDelete     = "webhook.delete"
	ActionSecretView        = "webhook.secret.view"
	ActionSecretReset       = "webhook.secret.reset"
	ActionWebhookTest       = "webhook.test"
	ActionKeyRelease        = "webhook.ordering_key.release"
	ActionDeliveryResend    = "delivery.resend"
	ActionBulkResend        = "delivery.bulk_resend"
	ActionAPIKeyCreate      = "api_key.create"
	ActionAPIKeyRevoke      = "api_key.revoke"
	ActionConsoleLinkCreate = "console_link.create"
	ActionConsoleSignIn     = "console.sign_in"
	ActionConsoleSignOut    = "console.sign_out"
	ActionChannelCreate     = "notification_channel.create"
	ActionChannelUpdate     = "notification_channel.update"
	ActionChannelDelete     = "notification_channel.delete"
	ActionChannelTest       = "notification_channel.test"
)

// Resource types of the audit log.
const (
	ResourceWebhook        = "webhook"
	ResourceDelivery       = "delivery"
	ResourceAPIKey         = "api_key"
	ResourceConsoleLink    = "console_link"
	ResourceConsoleSession = "console_session"
	ResourceChannel        = "notification_channel"
)

// AuditActions lists every action, for the API's and the console's
// filters.
var AuditActions = []string{ActionWebhookCreate, ActionWebhookUpdate, ActionWebhookEnable, ActionWebhookDisable,
	ActionWebhookDelete, ActionSecretView, ActionSecretReset, ActionWebhookTest, ActionKeyRelease, ActionDeliveryResend,
	ActionBulkResend, ActionAPIKeyCreate, ActionAPIKeyRevoke, ActionConsoleLinkCreate, ActionConsoleSignIn,
	ActionConsoleSignOut, ActionChannelCreate, ActionChannelUpdate, ActionChannelDelete, ActionChannelTest}

// NewAudit is the record of action on a resource by the actor of c. A
// caller without an actor (a tool calling the service directly) is
// webhookd itself.
func NewAudit(c Caller, action, resourceType, resourceID string) *db.Audit {
	a := c.Actor
	if a.Type == "" {
		a = Actor{Type: events.ActorSystem, ID: "webhookd", Name: "webhookd"}
	}
	return &db.Audit{Entry: db.AuditEntry{AccountID: c.AccountID, ActorType: a.Type, ActorID: a.ID, ActorName: a.Name,
		ActorRole: c.Role, ClientAddr: a.Addr, Action: action, ResourceType: resourceType, ResourceID: resourceID}}
}

// webhookAudit is the record of action on webhook id, its changes
// computed from the row before and after.
func webhookAudit(c Caller, action string, id uuid.UUID) *db.Audit {
	a := NewAudit(c, action, ResourceWebhook, id.String())
	a.Diff = WebhookChanges
	return a
}

// Logged starts the workflow of a's AUDIT_LOGGED event now, once its
// change committed; the outbox's sweep starts it otherwise.
func (s *Service) Logged(a *db.Audit) {
	if a != nil && a.Logged.ID != "" && s.outbox != nil {
		s.outbox.Enqueue(a.Logged)
	}
}

// record writes a record on its own, before what it records happens
// (showing a secret, sending a test, a bulk resend): without its record,
// it does not happen.
func (s *Service) record(ctx context.Context, a *db.Audit) error {
	if err := s.store.RecordAudit(ctx, a); err != nil {
		return err
	}
	s.Logged(a)
	return nil
}

// WebhookChanges is what changed between two rows of a webhook (nil: it
// did not exist), field by field as the API names them. Secrets (the
// signing secret, the receiver's password, token or client secret, the
// client key, a secret header's value) appear only as changed.
func WebhookChanges(before, after *db.Webhook) db.AuditChanges {
	b, a := webhookFields(before), webhookFields(after)
	out := db.AuditChanges{}
	for _, k := range unionKeys(b, a) {
		bv, inB := b[k]
		av, inA := a[k]
		if inB && inA && bytes.Equal(bv, av) {
			continue
		}
		if strings.HasPrefix(k, secretField) {
			out[strings.TrimPrefix(k, secretField)] = events.Change{Changed: true}
			continue
		}
		ch := events.Change{}
		if inB {
			ch.Before = bv
		}
		if inA {
			ch.After = av
		}
		out[k] = ch
	}
	return out
}

// secretField marks a field of webhookFields holding a hash of a
// ciphertext: compared, never shown.
const secretField = "secret:"

// webhookFields is w's recorded fields as JSON (nil w: none).
func webhookFields(w *db.Webhook) map[string]json.RawMessage {
	if w == nil {
		return map[string]json.RawMessage{}
	}
	type header struct {
		Name   string `json:"name"`
		Value  string `json:"value,omitempty"`
		Secret bool   `json:"secret,omitempty"`
	}
	headers := make([]header, 0, len(w.Headers))
	secrets := map[string][]byte{"secret": w.SecretEnc, "authSecret": w.AuthSecretEnc, "tlsClientKey": w.ClientKeyEnc}
	for _, h := range w.Headers {
		if h.Secret {
			headers = append(headers, header{Name: h.Name, Secret: true})
			secrets["headers."+strings.ToLower(h.Name)] = h.ValueEnc
			continue
		}
		headers = append(headers, header{Name: h.Name, Value: h.Value})
	}
	status := "disabled"
	if w.Enabled {
		status = "enabled"
	}
	fields := map[string]any{
		"name": w.Name, "url": w.URL, "eventTypes": w.EventTypes, "triggerSources": w.TriggerSources,
		"appIds": nonNilStrings(w.AppIDs), "filter": w.Filter, "status": status, "disabledReason": w.DisabledReason,
		"maxConcurrency": w.MaxConcurrency, "rateLimitPerSecond": w.RateLimitPerSecond, "ordered": w.Ordered,
		"orderedOnFailure": w.OnFailure, "timeoutSeconds": w.TimeoutSeconds, "retryPreset": w.RetryPreset,
		"retryWaits": w.RetryWaits, "payload": w.Payload, "traceContext": w.TraceContext, "headers": headers, "authType": w.AuthType,
		"authParams": w.AuthParams, "tlsClientCertSha256": w.ClientCertSHA256, "tlsCaBundleSha256": sha(w.CABundle),
	}
	out := make(map[string]json.RawMessage, len(fields)+len(secrets))
	for k, v := range fields {
		out[k], _ = json.Marshal(v) // plain values: cannot fail
	}
	for k, enc := range secrets {
		if len(enc) > 0 {
			h := sha256.Sum256(enc)
			out[secretField+k] = json.RawMessage(h[:])
		}
	}
	return out
}

func sha(s string) string {
	if s == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func unionKeys(maps ...map[string]json.RawMessage) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// AuditQuery narrows GET /v1/audit-log: the actor's id, the resource
// (type, id), the action, the time range [From, To).
type AuditQuery struct {
	PageQuery
	Actor        string
	ResourceType string
	ResourceID   string
	Action       string
	From, To     string // RFC 3339
}

// AuditLog lists the account's audit records, newest first: for admins.
func (s *Service) AuditLog(ctx context.Context, c Caller, q AuditQuery) (Page[db.AuditEntry], error) {
	if err := Authorize(c, ManageAccount); err != nil {
		return Page[db.AuditEntry]{}, err
	}
	limit, after, err := q.read()
	if err != nil {
		return Page[db.AuditEntry]{}, err
	}
	f := db.AuditFilter{ActorID: q.Actor, ResourceType: q.ResourceType, ResourceID: q.ResourceID, Action: q.Action,
		After: after, Limit: limit + 1}
	bad := map[string]string{}
	for name, v := range map[string]*string{"actor": &q.Actor, "resourceType": &q.ResourceType, "resourceId": &q.ResourceID} {
		if len(*v) > 200 {
			bad[name] = "must be at most 200 characters"
		}
	}
	if q.Action != "" && !slices.Contains(AuditActions, q.Action) {
		bad["action"] = "must be one of " + strings.Join(AuditActions, ", ")
	}
	f.From, f.To = parseTime(q.From, "from", bad), parseTime(q.To, "to", bad)
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		bad["to"] = "must be after from"
	}
	if len(bad) > 0 {
		return Page[db.AuditEntry]{}, invalidFields(bad)
	}
	rows, err := s.store.ListAuditLog(ctx, c.AccountID, f)
	if err != nil {
		return Page[db.AuditEntry]{}, err
	}
	return pageOf(rows, limit, func(e db.AuditEntry) (time.Time, uuid.UUID) { return e.At, e.ID }), nil
}

// parseTime reads an RFC 3339 time of field name ("" : none), noting a
// bad one in bad.
func parseTime(v, name string, bad map[string]string) *time.Time {
	if v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		bad[name] = "must be an RFC 3339 time, e.g. 2025-03-14T09:26:53Z"
		return nil
	}
	return &t
}
