package db

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The audit log (migration 00017, docs/audit.md): a record per change to
// an account's webhooks, keys and sign-ins, written in the transaction of
// the change, so there is no change without its record and no record of
// a change that was rolled back. Each record also goes into the outbox as
// an AUDIT_LOGGED system event. The store never updates a record; only
// PurgeAuditLog deletes, past AUDIT_RETENTION.

// AuditEntry is one row of audit_log.
type AuditEntry struct {
	ID           uuid.UUID    `db:"id"`
	AccountID    uuid.UUID    `db:"account_id"`
	At           time.Time    `db:"at"`
	ActorType    string       `db:"actor_type"` // events.ActorAPIKey, ActorConsole or ActorSystem
	ActorID      string       `db:"actor_id"`
	ActorName    string       `db:"actor_name"`
	ActorRole    string       `db:"actor_role"`
	ClientAddr   string       `db:"client_addr"`
	Action       string       `db:"action"`
	ResourceType string       `db:"resource_type"`
	ResourceID   string       `db:"resource_id"`
	Changes      AuditChanges `db:"changes"`
	Details      AuditDetails `db:"details"`
}

const auditColumns = `id, account_id, at, actor_type, actor_id, actor_name, actor_role, client_addr,
	action, resource_type, resource_id, changes, details`

// AuditChanges is the changes column: per field, before and after (or
// only that a secret changed).
type AuditChanges map[string]events.Change

// Scan reads the jsonb column.
func (c *AuditChanges) Scan(src any) error {
	*c = nil
	return scanJSON(src, c)
}

// Value writes the jsonb column ({} for none).
func (c AuditChanges) Value() (driver.Value, error) {
	if c == nil {
		c = AuditChanges{}
	}
	return json.Marshal(map[string]events.Change(c))
}

// AuditDetails is the details column: what else the action says.
type AuditDetails map[string]any

// Scan reads the jsonb column.
func (d *AuditDetails) Scan(src any) error {
	*d = nil
	return scanJSON(src, d)
}

// Value writes the jsonb column ({} for none).
func (d AuditDetails) Value() (driver.Value, error) {
	if d == nil {
		d = AuditDetails{}
	}
	return json.Marshal(map[string]any(d))
}

// Record is the entry as the API and the AUDIT_LOGGED event show it.
func (e AuditEntry) Record() events.AuditRecord {
	changes, details := map[string]events.Change(e.Changes), map[string]any(e.Details)
	if changes == nil {
		changes = map[string]events.Change{}
	}
	if details == nil {
		details = map[string]any{}
	}
	return events.AuditRecord{ID: e.ID.String(), At: e.At.UTC(),
		Actor:         events.AuditActor{Type: e.ActorType, ID: e.ActorID, Name: e.ActorName, Role: e.ActorRole},
		ClientAddress: e.ClientAddr, Action: e.Action,
		Resource: events.AuditResource{Type: e.ResourceType, ID: e.ResourceID}, Changes: changes, Details: details}
}

// Audit is the record a change writes in its own transaction. A store
// method given nil writes none: only tests and the engine change things
// without one.
type Audit struct {
	Entry AuditEntry
	// Diff, when set, makes Entry.Changes from the webhook before and
	// after the change (nil where there is none), inside the transaction.
	Diff func(before, after *Webhook) AuditChanges
	// Logged is set by the store: the AUDIT_LOGGED event stored with the
	// record, whose workflow the caller starts (or the outbox's sweep).
	Logged Event
}

// diff fills the entry's changes from a webhook's change.
func (a *Audit) diff(before, after *Webhook) {
	if a != nil && a.Diff != nil {
		a.Entry.Changes = a.Diff(before, after)
	}
}

// RecordAudit writes a record on its own: for what changes nothing in
// PostgreSQL but must be on record before it happens (a secret shown, a
// test sent, a bulk resend begun).
func (s *Store) RecordAudit(ctx context.Context, a *Audit) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error { return writeAudit(ctx, tx, a) })
}

// writeAudit inserts a's record and its AUDIT_LOGGED event through q (the
// change's transaction); nil writes nothing.
func writeAudit(ctx context.Context, q queryer, a *Audit) error {
	if a == nil {
		return nil
	}
	e := &a.Entry
	e.ID = uuid.New()
	err := q.GetContext(ctx, e, `
		INSERT INTO audit_log (id, account_id, actor_type, actor_id, actor_name, actor_role, client_addr,
			action, resource_type, resource_id, changes, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+auditColumns,
		e.ID, e.AccountID, e.ActorType, e.ActorID, e.ActorName, e.ActorRole, e.ClientAddr,
		e.Action, e.ResourceType, e.ResourceID, e.Changes, e.Details)
	if err != nil {
		return fmt.Errorf("writing audit record: %w", translate(err))
	}
	values, err := SystemEvent{AccountID: e.AccountID, ID: "audit-" + e.ID.String(), Type: events.AuditLogged,
		Data: e.Record()}.args()
	if err != nil {
		return err
	}
	args, err := publishAuditEvent.args(values)
	if err != nil {
		return err
	}
	var logged []Event
	if err := q.SelectContext(ctx, &logged, publishAuditEvent.text, args...); err != nil {
		return fmt.Errorf("storing the audit record's event: %w", translate(err))
	}
	if len(logged) > 0 {
		a.Logged = logged[0]
	}
	return nil
}

// publishAuditEvent stores a record's AUDIT_LOGGED event when a webhook of
// the account subscribes to it (this transaction's own included): an
// account that streams nothing starts no workflow per change, and one
// that starts streaming reads what came before from GET /v1/audit-log.
var publishAuditEvent = named(insertSystemEvent(`EXISTS (SELECT 1 FROM webhooks
	WHERE account_id = @account_id::uuid AND @event_type = ANY (event_types))`))

// AuditFilter narrows ListAuditLog; zero fields do not.
type AuditFilter struct {
	ActorID      string
	ResourceType string
	ResourceID   string
	Action       string
	From, To     *time.Time // [From, To)
	After        *Cursor
	Limit        int
}

// ListAuditLog returns the account's records, newest first.
func (s *Store) ListAuditLog(ctx context.Context, accountID uuid.UUID, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT ` + auditColumns + ` FROM audit_log WHERE account_id = $1`
	args := []any{accountID}
	where := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args))
	}
	for _, c := range []struct {
		col, v string
	}{{"actor_id", f.ActorID}, {"resource_type", f.ResourceType}, {"resource_id", f.ResourceID}, {"action", f.Action}} {
		if c.v != "" {
			where(c.col+" = $%d", c.v)
		}
	}
	if f.From != nil {
		where("at >= $%d", *f.From)
	}
	if f.To != nil {
		where("at < $%d", *f.To)
	}
	if f.After != nil {
		args = append(args, f.After.CreatedAt, f.After.ID)
		q += fmt.Sprintf(" AND (at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY at DESC, id DESC LIMIT $%d", len(args))
	out := []AuditEntry{}
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("listing the audit log: %w", translate(err))
	}
	return out, nil
}

// PurgeAuditLog deletes up to batch records older than before: the one
// deletion the table's trigger lets through, as it names its cutoff for
// its own transaction (and the trigger refuses a cutoff within the last
// day).
func (s *Store) PurgeAuditLog(ctx context.Context, before time.Time, batch int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT set_config('webhookd.audit_purge_before', $1, true)`,
			before.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)`, before, batch)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purging the audit log: %w", translate(err))
	}
	return n, nil
}
