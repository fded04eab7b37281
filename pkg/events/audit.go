package events

import (
	"encoding/json"
	"time"
)

// AuditRecord is one record of an account's audit log: the data of an
// AuditLogged event and an item of GET /v1/audit-log, one shape for both.
// A secret is never in it: its change is Change{Changed: true}.
type AuditRecord struct {
	ID            string            `json:"id"`
	At            time.Time         `json:"at"`
	Actor         AuditActor        `json:"actor"`
	ClientAddress string            `json:"clientAddress"`
	Action        string            `json:"action"`
	Resource      AuditResource     `json:"resource"`
	Changes       map[string]Change `json:"changes"`
	// Details say more about the action than its changes: a disable's
	// reason, a bulk resend's range and count, a replay's start.
	Details map[string]any `json:"details"`
}

// AuditActor is who made a change: an API key (ID its id, Name its
// label), a console session (ID a reference to it, never its cookie) or
// webhookd itself (Type system).
type AuditActor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Actor types of AuditActor.
const (
	ActorAPIKey  = "api_key"
	ActorConsole = "console"
	ActorSystem  = "system"
)

// AuditResource is what was changed.
type AuditResource struct {
	Type string `json:"type"` // webhook, api_key, delivery, console_session, console_link
	ID   string `json:"id"`
}

// Change is one field's change: its value before and after (absent where
// there was none), or, for a secret, only Changed.
type Change struct {
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Changed bool            `json:"changed,omitempty"`
}
