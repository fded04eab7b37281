package db

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Event is a published event as stored: the event itself and the outbox's
// columns. Kept so deliveries can be inspected and resent.
type Event struct {
	events.Event
	AccountID uuid.UUID `db:"account_id"`
	// Sequence is the event's place among its key's events (1, 2, …, in
	// the order they were stored; 0: no key).
	Sequence   int64     `db:"sequence"`
	WorkflowID string    `db:"workflow_id"`
	CreatedAt  time.Time `db:"created_at"`
	// DispatchedAt is set once the event's workflow has recorded it; NULL
	// means its workflow may not have started yet (see UndispatchedEvents).
	DispatchedAt *time.Time `db:"dispatched_at"`
	// DispatchTries counts the sweep's failed starts; DispatchError is the
	// last failure, shown on the event so a stuck one is visible.
	DispatchTries int    `db:"dispatch_tries"`
	DispatchError string `db:"dispatch_error"`
	// SchemaVersion is the version of its type's schema the data was
	// checked against when accepted (nil: accepted before schemas).
	SchemaVersion *int `db:"schema_version"`
	// Test: a test send or a "send example" to one webhook.
	Test bool `db:"test"`
	// TraceParent is the W3C traceparent of the span that stored the event
	// ("" when traces are off): the outbox starts its workflow in that
	// trace, however much later (docs/tracing.md).
	TraceParent string `db:"trace_parent"`
}

// eventColumns lists Event's columns (see deliveryColumns).
const eventColumns = `account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, created_at,
	dispatched_at, dispatch_tries, dispatch_error, ordering_key, sequence, schema_version, test,
	coalesce(trace_parent, '') AS trace_parent`

// InsertEvent stores an event unless one with the same id exists, and returns
// the stored one either way (idempotent publish: the first one wins).
func (s *Store) InsertEvent(ctx context.Context, e Event) (Event, bool, error) {
	type stored struct {
		e       Event
		created bool
	}
	r, err := traced(ctx, "InsertEvent", func(ctx context.Context) (stored, error) {
		e, created, err := s.storeEvent(ctx, e)
		return stored{e, created}, err
	})
	return r.e, r.created, err
}

func (s *Store) storeEvent(ctx context.Context, e Event) (Event, bool, error) {
	var out Event
	err := s.guardPartition(ctx, func() error {
		return s.getPrepared(ctx, &out, `
		WITH `+nextSequence("$1", "$9", "$2", "true")+`
		INSERT INTO events (account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, ordering_key, sequence,
			search_key, schema_version, trace_parent)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce((SELECT last FROM seq), 0), `+searchKey("$7::jsonb", "$10")+`, $11,
			nullif($12, '')
		WHERE NOT EXISTS (SELECT 1 FROM events WHERE account_id = $1 AND id = $2)
		ON CONFLICT DO NOTHING RETURNING `+eventColumns,
			e.AccountID, e.ID, e.Type, e.TriggerSource, e.AppID, e.OccurredAt, []byte(e.Data), e.WorkflowID, e.OrderingKey,
			searchKeyOf(e.Type), e.SchemaVersion, e.TraceParent)
	})
	if err == nil {
		return out, true, nil
	}
	if err := translate(err); err != ErrNotFound {
		return Event{}, false, fmt.Errorf("inserting event: %w", err)
	}
	if err := s.db.GetContext(ctx, &out, `SELECT `+eventColumns+` FROM events WHERE account_id = $1 AND id = $2
		ORDER BY created_at LIMIT 1`, e.AccountID, e.ID); err != nil {
		return Event{}, false, fmt.Errorf("reading existing event: %w", translate(err))
	}
	return out, false, nil
}

// searchKey is the SQL of the value stored as an event's search_key: the
// member key (SQL text, NULL for none) of its data (SQL jsonb), its first
// events.MaxSearchKeyChars characters; empty without one.
func searchKey(data, key string) string {
	return `coalesce(left(` + data + ` ->> ` + key + `, ` + strconv.Itoa(events.MaxSearchKeyChars) + `), '')`
}

// searchKeyOf is the SearchKey of type t as an input of searchKey.
func searchKeyOf(t string) *string {
	if k := events.SearchKeyOf(t); k != "" {
		return &k
	}
	return nil
}

// markDispatched is how RecordEvent stores the event from inside its
// workflow: inserted already dispatched, or the API's row marked so. It
// returns the event's created_at, which its deliveries take.
func markDispatched(ctx context.Context, q queryer, e Event) (time.Time, error) {
	var created time.Time
	err := q.GetContext(ctx, &created, `
		WITH `+nextSequence("$1", "$9", "$2", "true")+`, existing AS (
			SELECT created_at FROM events WHERE account_id = $1 AND id = $2 ORDER BY created_at LIMIT 1
		), inserted AS (
			INSERT INTO events (account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, dispatched_at,
				ordering_key, sequence, search_key, schema_version, test)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, now(), $9, coalesce((SELECT last FROM seq), 0), `+searchKey("$7::jsonb", "$10")+`,
				$11, $12
			WHERE NOT EXISTS (SELECT 1 FROM existing)
			ON CONFLICT DO NOTHING RETURNING created_at
		), marked AS (
			UPDATE events SET dispatched_at = now()
			WHERE account_id = $1 AND id = $2 AND created_at = (SELECT created_at FROM existing) AND dispatched_at IS NULL
		)
		SELECT created_at FROM inserted UNION ALL SELECT created_at FROM existing`,
		e.AccountID, e.ID, e.Type, e.TriggerSource, e.AppID, e.OccurredAt, []byte(e.Data), e.WorkflowID, e.OrderingKey,
		searchKeyOf(e.Type), e.SchemaVersion, e.Test)
	if err != nil {
		return time.Time{}, fmt.Errorf("recording event: %w", translate(err))
	}
	return created, nil
}

// UndispatchedEvents returns events stored at least olderThan ago whose
// workflow has not recorded them (the API stopped, or Temporal was down,
// between storing the event and starting its workflow) and whose own
// back-off has passed. At most perAccount events of each account are
// returned, oldest first, so one account's stuck events never crowd out
// another's.
func (s *Store) UndispatchedEvents(ctx context.Context, olderThan time.Duration, perAccount, limit int) ([]Event, error) {
	out := []Event{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT `+eventColumns+` FROM (
			SELECT e.*, row_number() OVER (PARTITION BY account_id ORDER BY created_at) AS rank
			FROM events e
			WHERE dispatched_at IS NULL AND created_at < now() - make_interval(secs => $1)
			  AND (dispatch_next_at IS NULL OR dispatch_next_at <= now())
		) e WHERE rank <= $2
		ORDER BY rank, created_at LIMIT $3`, olderThan.Seconds(), perAccount, limit)
	if err != nil {
		return nil, fmt.Errorf("listing undispatched events: %w", translate(err))
	}
	return out, nil
}

// NoteDispatch records a try of the sweep at starting the event's workflow, and
// when the sweep may try again.
func (s *Store) NoteDispatch(ctx context.Context, accountID uuid.UUID, id string, retryAt time.Time, reason string) (int, error) {
	var tries int
	err := s.db.GetContext(ctx, &tries, `
		UPDATE events SET dispatch_tries = dispatch_tries + 1, dispatch_next_at = $3, dispatch_error = $4
		WHERE account_id = $1 AND id = $2 RETURNING dispatch_tries`, accountID, id, retryAt, reason)
	if err != nil {
		return 0, fmt.Errorf("recording dispatch failure: %w", translate(err))
	}
	return tries, nil
}

// Event returns one event of the account.
func (s *Store) Event(ctx context.Context, accountID uuid.UUID, id string) (Event, error) {
	var e Event
	err := s.db.GetContext(ctx, &e, `SELECT `+eventColumns+` FROM events WHERE account_id = $1 AND id = $2
		ORDER BY created_at LIMIT 1`, accountID, id)
	if err != nil {
		return Event{}, fmt.Errorf("getting event: %w", translate(err))
	}
	return e, nil
}

// nextSequence is a CTE, seq, taking the next sequence number of the key
// (SQL expressions acct and key) for the event id, unless its key is "" or
// the event is stored already or when is false. The key's row stays
// locked until the statement's transaction ends, so the events of one key
// are numbered in the order they are stored.
func nextSequence(acct, key, id, when string) string {
	return `seq AS (
			INSERT INTO ordering_sequences AS s (account_id, key, last)
			SELECT ` + acct + `, ` + key + `, 1
			WHERE ` + key + ` <> '' AND ` + when + `
			  AND NOT EXISTS (SELECT 1 FROM events WHERE account_id = ` + acct + ` AND id = ` + id + `)
			ON CONFLICT (account_id, key) DO UPDATE SET last = s.last + 1
			RETURNING last
		)`
}
