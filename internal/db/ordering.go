package db

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Ordered delivery: the deliveries to an ordered webhook of the events of one
// ordering key go one after another, in sequence order. A delivery takes
// its turn (TakeTurn) before its first attempt; while an earlier one is
// unfinished it waits, and the workflow finishing that one wakes it
// (Waiters). The truth is always these rows: a wake-up a crash loses only
// delays the next check.

// TurnState is what TakeTurn found: Go, or what the delivery waits for.
type TurnState struct {
	Go bool
	// WaitingForEvent is the latest earlier event of the key whose
	// workflow has not recorded it yet; WaitingForDelivery the latest
	// earlier delivery to the webhook not finished, or failed and holding
	// the key (OnFailureHold). The nearer of the two is set.
	WaitingForEvent    string
	WaitingForDelivery *uuid.UUID
}

var takeTurn = named(`
	WITH me AS (
		SELECT d.id, d.account_id, d.webhook_id, d.ordering_key, d.sequence,
			coalesce(w.ordered_on_failure = 'hold', false) AS hold
		FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.id = @delivery_id AND d.created_at >= @lo AND d.created_at < @hi
		  AND d.series = @series AND d.status IN ('pending', 'retrying') AND d.ordered
	), ev AS (
		SELECT e.id, e.sequence FROM events e, me
		WHERE e.account_id = me.account_id AND e.ordering_key = me.ordering_key AND e.ordering_key <> ''
		  AND e.sequence < me.sequence AND e.dispatched_at IS NULL
		ORDER BY e.sequence DESC LIMIT 1
	), dl AS (
		SELECT d.id, d.sequence FROM deliveries d, me
		WHERE d.webhook_id = me.webhook_id AND d.ordered AND d.ordering_key = me.ordering_key
		  AND d.sequence < me.sequence
		  AND (d.status IN ('pending', 'retrying') OR (me.hold AND d.status = 'failed' AND NOT d.order_released))
		ORDER BY d.sequence DESC LIMIT 1
	), blocker AS (
		SELECT CASE WHEN ev.sequence > coalesce(dl.sequence, 0) THEN ev.id END AS event_id,
		       CASE WHEN coalesce(ev.sequence, 0) < dl.sequence THEN dl.id END AS delivery_id
		FROM me LEFT JOIN ev ON true LEFT JOIN dl ON true
	), noted AS (
		UPDATE deliveries d SET waiting_for_event = b.event_id, waiting_for_delivery = b.delivery_id,
			waiting_workflow_id = CASE WHEN b.event_id IS NULL AND b.delivery_id IS NULL THEN '' ELSE @workflow_id END,
			updated_at = now()
		FROM blocker b WHERE d.id = @delivery_id AND d.created_at >= @lo AND d.created_at < @hi
		RETURNING d.waiting_for_event, d.waiting_for_delivery
	)
	SELECT NOT EXISTS (SELECT 1 FROM noted WHERE waiting_for_event IS NOT NULL OR waiting_for_delivery IS NOT NULL) AS go,
		coalesce((SELECT waiting_for_event FROM noted), '') AS waiting_for_event,
		(SELECT waiting_for_delivery FROM noted) AS waiting_for_delivery`)

// TakeTurn decides whether series of an ordered delivery may make its first
// attempt: Go when no earlier event of its key is unrecorded and no earlier
// delivery of the key to its webhook is unfinished (or failed and holding
// the key). Otherwise the delivery is noted as waiting, with workflowID to
// wake. A delivery that is not (or no longer) pending and ordered goes: its
// attempt will say what became of it.
func (s *Store) TakeTurn(ctx context.Context, deliveryID uuid.UUID, series int, workflowID string) (TurnState, error) {
	lo, hi := periodOf(deliveryID)
	args, err := takeTurn.args(map[string]any{"delivery_id": deliveryID, "series": series, "workflow_id": workflowID,
		"lo": lo, "hi": hi})
	if err != nil {
		return TurnState{}, err
	}
	var row struct {
		Go                 bool       `db:"go"`
		WaitingForEvent    string     `db:"waiting_for_event"`
		WaitingForDelivery *uuid.UUID `db:"waiting_for_delivery"`
	}
	if err := s.getPrepared(ctx, &row, takeTurn.text, args...); err != nil {
		return TurnState{}, fmt.Errorf("taking turn: %w", translate(err))
	}
	return TurnState{Go: row.Go, WaitingForEvent: row.WaitingForEvent, WaitingForDelivery: row.WaitingForDelivery}, nil
}

// TurnWaiter is a delivery waiting for its turn, and the workflow making it.
type TurnWaiter struct {
	DeliveryID uuid.UUID `db:"id"`
	WorkflowID string    `db:"waiting_workflow_id"`
}

// WaitersForDeliveries lists the deliveries waiting for one of ids.
func (s *Store) WaitersForDeliveries(ctx context.Context, ids []uuid.UUID) ([]TurnWaiter, error) {
	out := []TurnWaiter{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT id, waiting_workflow_id FROM deliveries
		WHERE waiting_for_delivery = ANY($1::uuid[]) AND status = 'pending' AND waiting_workflow_id <> ''`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("listing waiters: %w", translate(err))
	}
	return out, nil
}

// WaitersForEvent lists the deliveries waiting for an event of the account
// to be recorded.
func (s *Store) WaitersForEvent(ctx context.Context, accountID uuid.UUID, eventID string) ([]TurnWaiter, error) {
	out := []TurnWaiter{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT id, waiting_workflow_id FROM deliveries
		WHERE account_id = $1 AND waiting_for_event = $2 AND status = 'pending' AND waiting_workflow_id <> ''`,
		accountID, eventID)
	if err != nil {
		return nil, fmt.Errorf("listing waiters: %w", translate(err))
	}
	return out, nil
}

// ReleaseKey lets an ordered webhook's key go past its failed deliveries
// (OnFailureHold): they no longer hold it. It returns the deliveries
// released, whose waiters are to be woken.
func (s *Store) ReleaseKey(ctx context.Context, accountID, webhookID uuid.UUID, key string, a *Audit) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &out, `
			UPDATE deliveries SET order_released = true, updated_at = now()
			WHERE account_id = $1 AND webhook_id = $2 AND ordering_key = $3 AND ordered
			  AND status = 'failed' AND NOT order_released
			RETURNING id`, accountID, webhookID, key); err != nil {
			return translate(err)
		}
		if a != nil {
			a.Entry.Details = AuditDetails{"orderingKey": key, "released": out}
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return nil, fmt.Errorf("releasing key: %w", err)
	}
	return out, nil
}
