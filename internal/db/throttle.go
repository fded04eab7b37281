package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// HandOffLease is how long a slot handed to a waiter stays its own before
// the waiter takes it: the signal, a workflow task and StartAttempt take
// milliseconds; a waiter that does not come in time (its worker was lost
// too, or the signal) loses the slot to the next one, and finds its way
// back by its fallback poll.
const HandOffLease = 2 * time.Second

// SlotsChannel is the PostgreSQL notification channel naming a delivery a
// slot was handed to (its id), for the worker process whose attempt for it
// may be waiting in-process (see internal/worker/activities/slotwait.go).
const SlotsChannel = "webhookd_slots"

// NotifySlot names on SlotsChannel the delivery a slot was handed to.
func (s *Store) NotifySlot(ctx context.Context, deliveryID uuid.UUID) error {
	if err := s.notify(ctx, SlotsChannel, deliveryID.String()); err != nil {
		return fmt.Errorf("notifying a handed slot: %w", err)
	}
	return nil
}

// Waiter is a delivery waiting in its webhook's queue, to be woken when
// a slot is handed to it. The json tags are the column names.
type Waiter struct {
	WebhookID  uuid.UUID `db:"webhook_id" json:"webhook_id"`
	DeliveryID uuid.UUID `db:"delivery_id" json:"delivery_id"`
	WorkflowID string    `db:"workflow_id" json:"workflow_id"`
	// InWorker: its attempt waits inside its worker process for a while
	// yet (GateInput.InWorker): notify it (NotifySlot), do not signal.
	InWorker bool `db:"in_worker" json:"in_worker"`
}

// inWorker is the SQL of Waiter.InWorker for the waiter row q: it waits in
// its worker for 100 ms more at least, so a notification reaches it
// before its wait runs out.
func inWorker(q string) string {
	return `coalesce(` + q + `.in_worker_until > clock_timestamp() + interval '100 milliseconds', false) AS in_worker`
}

// nextWaiter is the CTE nx: the oldest waiter of the slot in CTE mine, if
// that slot is kept (within the webhook's maximum), skipping waiters whose
// delivery has moved on (the sweep deletes those), waiters of a dead
// worker (see liveWorker) and one another transaction is handing a slot to.
const nextWaiter = `nx AS (
			SELECT q.seq, q.delivery_id, q.series, q.workflow_id, q.in_worker_until
			FROM webhook_waiters q
			JOIN deliveries d ON d.id = q.delivery_id AND d.series = q.series AND d.status IN ('pending', 'retrying')
			WHERE q.webhook_id = (SELECT webhook_id FROM mine WHERE kept) AND ` + liveWorker + `
			ORDER BY q.seq LIMIT 1
			FOR UPDATE OF q SKIP LOCKED
		)`

// liveWorker holds for a waiter q whose worker was seen within 3 s (its
// sweep runs every second): a signal to a workflow cached by a dead worker
// waits for Temporal's sticky timeout (5 s) before another worker runs it,
// longer than the slot's hand-off lease.
const liveWorker = `(q.worker = '' OR EXISTS (SELECT 1 FROM webhook_workers k
			WHERE k.id = q.worker AND k.seen_at > clock_timestamp() - interval '3 seconds'))`

// Lease names a concurrency slot taken by an attempt.
type Lease struct {
	WebhookID  uuid.UUID
	Slot       int
	DeliveryID uuid.UUID
	Series     int
	Number     int
	Try        int
}

// RenewLease moves the lease of a slot still held by its attempt ttl
// past now; it reports false when the attempt no longer holds it (the
// lease expired and the slot went to another).
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE webhook_leases SET expires_at = clock_timestamp() + make_interval(secs => $7)
		WHERE webhook_id = $1 AND slot = $2 AND delivery_id = $3 AND series = $4 AND number = $5 AND try = $6`,
		l.WebhookID, l.Slot, l.DeliveryID, l.Series, l.Number, l.Try, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("renewing lease: %w", translate(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// HandFreedSlots hands the free slots of unthrottled webhooks that have
// waiters —
// freed by an expired lease (a lost worker, or a waiter that never came
// for a slot handed to it), or by a raised maximum — to their oldest
// waiters of live workers, one each, and returns the waiters to signal:
// those, and the waiters of dead workers not signalled yet (poked), so
// that their workflows move to a live worker and queue again from there,
// keeping their place. It marks worker seen, and drops waiters whose
// delivery moved on. Several workers may run it at once: slots and
// waiters another one holds are skipped.
func (s *Store) HandFreedSlots(ctx context.Context, worker string) ([]Waiter, error) {
	out := []Waiter{}
	err := s.selectPrepared(ctx, &out, `
		WITH seen AS (
			INSERT INTO webhook_workers (id, seen_at) SELECT $2, clock_timestamp() WHERE $2 <> ''
			ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at
		), gone AS (
			DELETE FROM webhook_workers WHERE seen_at < now() - interval '1 day'
		), free AS (
			SELECT l.webhook_id, l.slot
			FROM webhook_leases l JOIN webhooks w ON w.id = l.webhook_id
			WHERE l.webhook_id IN (SELECT webhook_id FROM webhook_waiters)
			  AND l.slot <= w.max_concurrency AND (l.expires_at IS NULL OR l.expires_at <= clock_timestamp())
			  AND coalesce(w.throttled_until <= clock_timestamp(), true)
			FOR UPDATE OF l SKIP LOCKED
		), numbered AS (
			SELECT webhook_id, slot, row_number() OVER (PARTITION BY webhook_id ORDER BY slot) AS n FROM free
		), heads AS (
			SELECT h.seq, h.webhook_id, h.delivery_id, h.series, h.workflow_id, h.in_worker_until,
				row_number() OVER (PARTITION BY h.webhook_id ORDER BY h.seq) AS n
			FROM (SELECT webhook_id, count(*) AS k FROM free GROUP BY webhook_id) c,
			LATERAL (
				SELECT q.seq, q.webhook_id, q.delivery_id, q.series, q.workflow_id, q.in_worker_until
				FROM webhook_waiters q
				JOIN deliveries d ON d.id = q.delivery_id AND d.series = q.series AND d.status IN ('pending', 'retrying')
				WHERE q.webhook_id = c.webhook_id AND `+liveWorker+`
				ORDER BY q.seq LIMIT c.k
				FOR UPDATE OF q SKIP LOCKED
			) h
		), handed AS (
			UPDATE webhook_leases l SET delivery_id = h.delivery_id, series = h.series, number = NULL, try = NULL,
				expires_at = clock_timestamp() + make_interval(secs => $1)
			FROM numbered f JOIN heads h ON h.webhook_id = f.webhook_id AND h.n = f.n
			WHERE l.webhook_id = f.webhook_id AND l.slot = f.slot
			RETURNING h.seq, h.webhook_id, h.delivery_id, h.workflow_id, `+inWorker("h")+`
		), dequeued AS (
			DELETE FROM webhook_waiters q USING handed h WHERE q.seq = h.seq
		), stale AS (
			DELETE FROM webhook_waiters q USING deliveries d
			WHERE d.id = q.delivery_id AND (d.series <> q.series OR d.status NOT IN ('pending', 'retrying'))
		), poked AS (
			UPDATE webhook_waiters q SET poked = true
			WHERE NOT q.poked AND NOT `+liveWorker+`
			RETURNING q.seq, q.webhook_id, q.delivery_id, q.workflow_id
		)
		SELECT webhook_id, delivery_id, workflow_id, in_worker FROM (
			SELECT seq, webhook_id, delivery_id, workflow_id, in_worker FROM handed
			UNION ALL SELECT seq, webhook_id, delivery_id, workflow_id, false FROM poked
		) w ORDER BY seq`, HandOffLease.Seconds(), worker)
	if err != nil {
		return nil, fmt.Errorf("handing freed slots: %w", translate(err))
	}
	return out, nil
}

// Waiters lists a webhook's queue, oldest first (delivery ids).
func (s *Store) Waiters(ctx context.Context, webhookID uuid.UUID) ([]uuid.UUID, error) {
	out := []uuid.UUID{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT delivery_id FROM webhook_waiters WHERE webhook_id = $1 ORDER BY seq`, webhookID)
	if err != nil {
		return nil, fmt.Errorf("listing waiters: %w", translate(err))
	}
	return out, nil
}
