package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Delivery is one event sent to one webhook, over one or more series of
// attempts. The json tags are the column names: ResolveEvent reads rows
// aggregated as JSON.
type Delivery struct {
	ID             uuid.UUID       `db:"id" json:"id"`
	AccountID      uuid.UUID       `db:"account_id" json:"account_id"`
	EventID        string          `db:"event_id" json:"event_id"`
	WebhookID      uuid.UUID       `db:"webhook_id" json:"webhook_id"`
	EventType      string          `db:"event_type" json:"event_type"`
	MessageID      string          `db:"message_id" json:"message_id"`
	Status         delivery.Status `db:"status" json:"status"`
	StatusReason   string          `db:"status_reason" json:"status_reason"`
	AttemptCount   int             `db:"attempt_count" json:"attempt_count"`
	Series         int             `db:"series" json:"series"`
	WorkflowID     string          `db:"workflow_id" json:"workflow_id"`
	NextAttemptAt  *time.Time      `db:"next_attempt_at" json:"next_attempt_at"`
	LastStatusCode *int            `db:"last_status_code" json:"last_status_code"`
	// CreatedAt is its event's created_at (the log's partition key, see
	// migration 00015): the time an event's deliveries are listed by.
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
	// TriggerSource is its event's, kept for the delivery log's search.
	TriggerSource string `db:"trigger_source" json:"trigger_source"`
	// Test: a delivery of a test send or a "send example" (one attempt).
	Test bool `db:"test" json:"test"`
	Turn
}

// Turn is a delivery's place in its event's ordering key (ordering.go):
// the key and sequence, whether it takes turns (its webhook is ordered),
// and, while it waits for its turn, what it waits for.
type Turn struct {
	OrderingKey string `db:"ordering_key" json:"ordering_key"`
	Sequence    int64  `db:"sequence" json:"sequence"`
	Ordered     bool   `db:"ordered" json:"ordered"`
	// WaitingForEvent is an earlier event of the key not recorded yet;
	// WaitingForDelivery an earlier delivery to the webhook not finished
	// (or failed, and holding the key).
	WaitingForEvent    *string    `db:"waiting_for_event" json:"waiting_for_event"`
	WaitingForDelivery *uuid.UUID `db:"waiting_for_delivery" json:"waiting_for_delivery"`
	// OrderReleased: an admin released this failed delivery's hold on
	// its key.
	OrderReleased bool `db:"order_released" json:"order_released"`
	// WaitingWorkflowID is the workflow to wake when its turn comes (not
	// in deliveryColumns: only the store's wake-ups read it).
	WaitingWorkflowID string `db:"waiting_workflow_id" json:"waiting_workflow_id"`
}

// Waiting reports whether a pending delivery waits for its turn.
func (d Delivery) Waiting() bool {
	return d.Status == delivery.Pending && (d.WaitingForEvent != nil || d.WaitingForDelivery != nil)
}

// deliveryColumns lists Delivery's columns: queries name them rather than
// SELECT *, so an older binary keeps working after a migration adds one.
const deliveryColumns = `id, account_id, event_id, webhook_id, event_type, message_id, status, status_reason,
	attempt_count, series, workflow_id, next_attempt_at, last_status_code, created_at, updated_at, trigger_source,
	ordering_key, sequence, ordered, waiting_for_event, waiting_for_delivery, order_released, test`

// Finished reports whether the delivery's current series is over.
func (d Delivery) Finished() bool { return d.Status.Finished() }

// Attempt is one HTTP request of a delivery. Every request that left a
// worker has its own row: Try > 1 is the same attempt number sent again
// after the worker running it was lost, and FinishedAt is nil when the
// worker stopped before recording the answer (the receiver may have it).
type Attempt struct {
	DeliveryID     uuid.UUID  `db:"delivery_id"`
	Series         int        `db:"series"`
	Number         int        `db:"number"`
	Try            int        `db:"try"`
	URL            string     `db:"url"`
	StartedAt      time.Time  `db:"started_at"`
	FinishedAt     *time.Time `db:"finished_at"`
	DurationMS     int        `db:"duration_ms"`
	ResponseStatus *int       `db:"response_status"`
	ResponseBody   []byte     `db:"response_body"`
	Error          string     `db:"error"`
	// AuthMethod is how the request authenticated (AuthNone, AuthBasic,
	// AuthBearer, AuthOAuth2), set when the row is opened.
	AuthMethod string `db:"auth_method"`
	// Proxy is the forward proxy (host:port, no credentials) the request
	// went through, "" for direct; ClientCertSHA256 the fingerprint of the
	// client certificate its TLS handshake had to present, "" for none.
	// Both are set when the row is opened.
	Proxy            string `db:"proxy"`
	ClientCertSHA256 string `db:"client_cert_sha256"`
}

// RecordEvent stores the event (if new, marking it dispatched) and one
// pending delivery for each webhook in webhookIDs, idempotently; it returns
// every delivery of the event, finished ones included, so a rerun of its
// workflow can report them.
func (s *Store) RecordEvent(ctx context.Context, e Event, webhookIDs []uuid.UUID) ([]Delivery, error) {
	deliveries := []Delivery{}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		created, err := markDispatched(ctx, tx, e)
		if err != nil {
			return err
		}
		if len(webhookIDs) > 0 {
			// The delivery id doubles as the stable webhook-id header ("msg_" + id);
			// a UUIDv7 of the event's created_at, its partition key (see
			// periodOf). The UUID sits in the select list of a subquery
			// over the webhooks so it runs once per row: an uncorrelated
			// LATERAL (SELECT gen_random_uuid()) was evaluated once, giving
			// every webhook of the event the same id, and an event matching
			// two webhooks failed on deliveries_pkey.
			_, err := tx.ExecContext(ctx, `
				INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, workflow_id,
					created_at, trigger_source, test)
				SELECT d.id, $1, $2, d.w, $3, 'msg_' || replace(d.id::text, '-', ''), 'pending', $4, $6, $7, $8
				FROM (SELECT w, `+uuidV7("$6::timestamptz")+` AS id FROM unnest($5::uuid[]) AS w) d
				ON CONFLICT (account_id, event_id, webhook_id, created_at) DO NOTHING`,
				e.AccountID, e.ID, e.Type, e.WorkflowID, pq.Array(webhookIDs), created, e.TriggerSource, e.Test)
			if err != nil {
				return translate(err)
			}
		}
		// Every delivery of the event, not only those matched now: a
		// retried (or restarted) RecordEvent must resume a delivery whose
		// webhook changed in between — the attempt then cancels it — must
		// never send a finished one again, and must still report it.
		return translate(tx.SelectContext(ctx, &deliveries, `
			SELECT `+deliveryColumns+` FROM deliveries WHERE account_id = $1 AND event_id = $2 AND created_at = $3
			ORDER BY webhook_id`, e.AccountID, e.ID, created))
	})
	if err != nil {
		return nil, fmt.Errorf("recording event: %w", err)
	}
	return deliveries, nil
}

// Resolution is what ResolveEvent found and did.
type Resolution struct {
	Plan       string     // the account's plan; "" when there is no such account
	EventFound bool       // the event is stored (now, if it came with its data)
	Deliveries []Delivery // every delivery of the event, finished ones included
	// Filters are the payload filters of the matching webhooks that have
	// one, which ResolveEvent leaves to the caller: ResolveFiltered then
	// creates the deliveries of those that pass. Data is the stored event's
	// data when there are filters and the event came without it.
	Filters []PayloadFilter
	Data    json.RawMessage
	// WebhookNames are the names of the deliveries' webhooks (those not
	// deleted), for the Temporal UI's summaries.
	WebhookNames map[uuid.UUID]string
}

// PayloadFilter is a matching webhook's payload filter.
type PayloadFilter struct {
	WebhookID uuid.UUID `json:"webhook_id"`
	Filter    string    `json:"filter"`
}

// resolveEvent is ResolveEvent's statement. The event's created_at (ev)
// is its deliveries' too, and their ids are UUIDv7 of it (see periodOf).
// {events} and {deliveries} are that period's tables (periodTables).
var resolveEvent = `
		WITH acct AS (
			SELECT plan FROM accounts WHERE id = $1
		), existing AS (
			SELECT created_at, ordering_key, sequence, data FROM {events}
			WHERE account_id = $1 AND id = $2 AND created_at >= $11 AND created_at <= $12
			ORDER BY created_at LIMIT 1
		), ` + nextSequence("$1", "$9", "$2", "$7::jsonb IS NOT NULL") + `, inserted AS (
			INSERT INTO events (account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, dispatched_at,
				ordering_key, sequence, search_key, schema_version)
			SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8, now(), $9, coalesce((SELECT last FROM seq), 0),
				` + searchKey("$7::jsonb", "$10") + `, $15
			FROM acct WHERE $7::jsonb IS NOT NULL AND NOT EXISTS (SELECT 1 FROM existing)
			ON CONFLICT DO NOTHING
			RETURNING created_at, ordering_key, sequence
		), ev AS (
			-- The event's created_at, key and sequence, stored now or before.
			(SELECT created_at, ordering_key, sequence FROM inserted
			 UNION ALL SELECT created_at, ordering_key, sequence FROM existing) LIMIT 1
		), marked AS (
			UPDATE {events} SET dispatched_at = now()
			WHERE account_id = $1 AND id = $2 AND created_at = (SELECT created_at FROM existing) AND dispatched_at IS NULL
			  AND created_at >= $11 AND created_at <= $12
			RETURNING 1
		), hooks AS (
			-- Disabled webhooks too: they get a skipped_disabled delivery,
			-- never sent, that enabling them can replay. An operational
			-- event matches by type alone and never goes to the webhook it
			-- is about.
			SELECT w.id, w.enabled, w.disabled_reason, w.ordered, w.filter FROM webhooks w, acct
			WHERE EXISTS (SELECT 1 FROM ev) AND acct.plan = 'professional' AND w.account_id = $1 AND $3 = ANY(w.event_types)
			  AND CASE WHEN $4 = 'system' THEN w.id::text IS DISTINCT FROM
			                coalesce($7::jsonb, (SELECT data FROM existing)) ->> 'webhookId'
			      ELSE $4 = ANY(w.trigger_sources)
			           AND ($4 <> 'third_party_app' OR cardinality(w.app_ids) = 0 OR $5 = ANY(w.app_ids)) END
		), created AS (
			-- A UUID made in the select list of a subquery over the webhooks
			-- runs once per row (see RecordEvent).
			INSERT INTO {deliveries} (id, account_id, event_id, webhook_id, event_type, message_id, status, status_reason,
				workflow_id, ordering_key, sequence, ordered, created_at, trigger_source)
			SELECT d.id, $1, $2, d.w, $3, 'msg_' || replace(d.id::text, '-', ''),
				CASE WHEN d.enabled THEN 'pending' ELSE 'skipped_disabled' END,
				CASE WHEN d.enabled THEN '' ELSE 'the webhook was disabled (' || d.disabled_reason || ')' END, $8,
				d.ordering_key, d.sequence, d.ordered AND d.ordering_key <> '', d.created_at, $4
			-- A filtered webhook only once its filter passed ($14).
			FROM (SELECT h.id AS w, h.enabled, h.disabled_reason, h.ordered, ev.created_at, ev.ordering_key, ev.sequence,
			             ` + uuidV7("ev.created_at") + ` AS id FROM hooks h, ev
			      WHERE h.filter = '' OR h.id = ANY($14::uuid[])) d
			ON CONFLICT (account_id, event_id, webhook_id, created_at) DO NOTHING
			RETURNING ` + deliveryColumns + `
		), every AS (
			SELECT ` + deliveryColumns + ` FROM {deliveries}
			WHERE account_id = $1 AND event_id = $2 AND created_at = (SELECT created_at FROM ev)
			  AND created_at >= $11 AND created_at <= $12
			UNION ALL SELECT * FROM created
		)
		-- Data-modifying CTEs (inserted, marked) run whether read or not.
		SELECT (SELECT plan FROM acct) AS plan, EXISTS (SELECT 1 FROM ev) AS found,
			coalesce((SELECT json_agg(every ORDER BY webhook_id) FROM every), '[]') AS deliveries,
			(SELECT json_object_agg(w.id, w.name) FROM webhooks w
			 WHERE w.account_id = $1 AND w.id IN (SELECT webhook_id FROM every)) AS names,
			-- The filters to decide ($13: decided already), and the data
			-- they need when the caller has not got it.
			(SELECT json_agg(json_build_object('webhook_id', id, 'filter', filter) ORDER BY id)
			 FROM hooks WHERE filter <> '' AND NOT $13) AS filters,
			CASE WHEN NOT $13 AND $7::jsonb IS NULL AND EXISTS (SELECT 1 FROM hooks WHERE filter <> '')
			     THEN (SELECT data FROM existing) END AS data`

// ResolveEvent is RecordEvent for a published event, in one round trip: it
// stores the event (or, when e.Data is nil, finds the one the API stored)
// marked dispatched, creates a delivery for each webhook of a Professional
// account that subscribes to its type and trigger source (and app id, when
// a webhook limits third-party events to some) — pending, or
// skipped_disabled for a disabled webhook — and returns every delivery of
// the event. Idempotent, like RecordEvent. A matching webhook with a
// payload filter gets no delivery here: the filters come back in
// Resolution.Filters for the caller to evaluate (SQL cannot), and
// ResolveFiltered creates the deliveries of those that passed.
func (s *Store) ResolveEvent(ctx context.Context, e Event) (Resolution, error) {
	return traced(ctx, "ResolveEvent", func(ctx context.Context) (Resolution, error) {
		return s.resolveEvent(ctx, e, false, nil)
	})
}

// ResolveFiltered is ResolveEvent once the filters it returned are
// decided: it also creates the deliveries of the webhooks in passed (and
// of none other with a filter), and returns no filters.
func (s *Store) ResolveFiltered(ctx context.Context, e Event, passed []uuid.UUID) (Resolution, error) {
	return traced(ctx, "ResolveFiltered", func(ctx context.Context) (Resolution, error) {
		return s.resolveEvent(ctx, e, true, passed)
	})
}

func (s *Store) resolveEvent(ctx context.Context, e Event, decided bool, passed []uuid.UUID) (Resolution, error) {
	var data any
	if e.Data != nil {
		data = []byte(e.Data)
	}
	var row struct {
		Plan       *string `db:"plan"`
		Found      bool    `db:"found"`
		Deliveries []byte  `db:"deliveries"`
		Filters    []byte  `db:"filters"`
		Data       []byte  `db:"data"`
		Names      []byte  `db:"names"`
	}
	// An event stored by the API is looked up in its created_at's
	// partition alone when the caller knows it; else in every one.
	lo, hi := anyTimeLo, anyTimeHi
	if !e.CreatedAt.IsZero() {
		lo, hi = e.CreatedAt, e.CreatedAt
	}
	err := s.guardPartition(ctx, func() error {
		return s.inPeriod(ctx, e.CreatedAt, func(t periodTables) error {
			return s.getPrepared(ctx, &row, t.in(resolveEvent), e.AccountID, e.ID, e.Type, e.TriggerSource, e.AppID,
				e.OccurredAt, data, e.WorkflowID, e.OrderingKey, searchKeyOf(e.Type), lo, hi,
				decided, pq.Array(passed), e.SchemaVersion)
		})
	})
	if err != nil {
		return Resolution{}, fmt.Errorf("resolving event: %w", translate(err))
	}
	res := Resolution{EventFound: row.Found}
	if row.Plan != nil {
		res.Plan = *row.Plan
	}
	if err := json.Unmarshal(row.Deliveries, &res.Deliveries); err != nil {
		return Resolution{}, fmt.Errorf("reading resolved deliveries: %w", err)
	}
	if row.Filters != nil {
		if err := json.Unmarshal(row.Filters, &res.Filters); err != nil {
			return Resolution{}, fmt.Errorf("reading the matching webhooks' filters: %w", err)
		}
	}
	if row.Names != nil {
		if err := json.Unmarshal(row.Names, &res.WebhookNames); err != nil {
			return Resolution{}, fmt.Errorf("reading the webhooks' names: %w", err)
		}
	}
	res.Data = row.Data
	return res, nil
}

// DeliveryTarget is what one attempt needs: the delivery, the webhook as it is
// now (nil fields when it was deleted) and the event.
type DeliveryTarget struct {
	Delivery
	WebhookExists           bool       `db:"webhook_exists"`
	WebhookEnabled          bool       `db:"webhook_enabled"`
	URL                     string     `db:"url"`
	WebhookName             string     `db:"webhook_name"` // for operational events
	SecretEnc               []byte     `db:"secret_enc"`
	PreviousSecretEnc       []byte     `db:"previous_secret_enc"`
	PreviousSecretExpiresAt *time.Time `db:"previous_secret_expires_at"`
	// Event is the event delivered, as stored: what the receiver is sent.
	Event events.Event `db:"event"`
	// The webhook's throttle as this attempt found it.
	MaxConcurrency     int        `db:"max_concurrency"`
	RateLimitPerSecond *float64   `db:"rate_limit_per_second"`
	ThrottledUntil     *time.Time `db:"throttled_until"`
	// Try is the attempt row StartAttempt opened for this request, or 0
	// when no request is to be sent (see Sendable and Gate).
	Try int `db:"try"`
	// Gate is what the throttle decided for a Sendable attempt: GateSend,
	// or why it must wait (GateThrottled, GateFull, GateReserved).
	Gate Gate `db:"gate"`
	// GateNow is the database's clock when the gate decided; ReservedFor
	// the rate-limit slot held for this attempt (GateReserved).
	GateNow     *time.Time `db:"gate_now"`
	ReservedFor *time.Time `db:"reserved_for"`
	// Slot is the concurrency slot the attempt took (0: none, e.g. a
	// test), whose lease the request renews while it runs (RenewLease).
	Slot int `db:"slot"`
	// The webhook's own timeout, retry schedule and payload form, read
	// afresh by every attempt (zero when it was deleted).
	DeliveryOptions
	// Receiver: the webhook's custom headers and authentication, read in
	// the same round trip (secrets sealed; the worker opens them).
	Receiver
}

// Gate is the throttle's decision for an attempt.
type Gate string

// Decisions of the throttle.
const (
	GateSend      Gate = "send"      // a concurrency slot is taken: send now
	GateThrottled Gate = "throttled" // the receiver asked us to back off: wait until ThrottledUntil
	GateFull      Gate = "full"      // MaxConcurrency requests are in flight: wait a little
	GateReserved  Gate = "reserved"  // the rate limit's next slot is ReservedFor: wait, then send with it
)

// Sendable reports whether an attempt of series may be sent now: the
// delivery is at that series and unfinished, and its webhook exists and is
// enabled (or the attempt is a test, sent to a disabled webhook too).
func (t DeliveryTarget) Sendable(series int, test bool) bool {
	return t.Series == series && !t.Finished() && t.WebhookExists && (t.WebhookEnabled || test)
}

// GateInput is what the throttle needs besides the attempt.
type GateInput struct {
	// Reservation is a rate-limit slot an earlier call returned
	// (ReservedFor): the attempt is sent at it without taking another.
	Reservation *time.Time
	// Lease is how long a taken concurrency slot stays taken unless
	// renewed (RenewLease): short, so a lost worker's slots come free soon.
	Lease time.Duration
	// Queue is the workflow to wake (SignalSlotFree) when the webhook is
	// full: the attempt joins the webhook's queue of waiters (keeping its
	// place if it is in it already) and a freed slot is handed to it.
	// Empty: no queue, the caller polls.
	Queue string
	// Worker names the worker process making the attempt (its sweep
	// keeps it seen, see HandFreedSlots); "" is always presumed live.
	Worker string
	// InWorker is how long a queued attempt waits for its slot inside
	// its worker process before it waits in its workflow (0: not at all):
	// a slot handed to it meanwhile is notified (Waiter.InWorker), not
	// signalled.
	InWorker time.Duration
}

// AttemptStart names the attempt StartAttempt is to open.
type AttemptStart struct {
	DeliveryID uuid.UUID
	Series     int
	Number     int  // the attempt number, 1-based within the series
	Test       bool // sent to a disabled webhook too, and never throttled
	StartedAt  time.Time
	Gate       GateInput
	// Proxy is the forward proxy the request goes through (host:port,
	// never its credentials), "" for direct: recorded on the attempt row.
	Proxy string
}

// reservationGrace is how late a reservation may come back and still be
// honoured; an older one (a worker was down) takes a new slot, so stale
// reservations never fire together.
const reservationGrace = 5 * time.Second

// StartAttempt loads what attempt number of series needs and, when it is
// Sendable and the webhook's throttle lets it through, opens its attempt
// row (the next try of that number) in the same round trip, before the
// request leaves: a worker lost mid-request leaves the row unfinished
// instead of no trace.
//
// The throttle, in the same statement: nothing is sent while the webhook
// is throttled (a receiver's 429/502/503/504 or Retry-After, see
// FinishAttempt); under a rate limit each request takes the next slot,
// greatest(now, rate_next_at), and moves rate_next_at 1/rate on — a slot
// in the future is a reservation the workflow waits for and brings back —
// and every request takes a free concurrency slot of the webhook (a
// webhook_leases row, FOR UPDATE SKIP LOCKED) until FinishAttempt frees it
// or its lease expires. The webhook row is locked only under a rate limit;
// a test attempt is never throttled.
//
// A full webhook queues the attempt when in.Gate.Queue names its workflow; a
// slot handed to the attempt (FinishAttempt, HandFreedSlots) is taken
// first, and taking a slot leaves the queue.
func (s *Store) StartAttempt(ctx context.Context, in AttemptStart) (DeliveryTarget, error) {
	return traced(ctx, "StartAttempt", func(ctx context.Context) (DeliveryTarget, error) { return s.startAttemptIn(ctx, in) })
}

func (s *Store) startAttemptIn(ctx context.Context, in AttemptStart) (DeliveryTarget, error) {
	var t DeliveryTarget
	lo, hi := periodOf(in.DeliveryID)
	err := s.inPeriod(ctx, lo, func(pt periodTables) error {
		return s.getPrepared(ctx, &t, pt.in(startAttempt), in.DeliveryID, in.Series, in.Number, in.Test, in.StartedAt,
			in.Gate.Reservation, in.Gate.Lease.Seconds(), reservationGrace.Seconds(), in.Gate.Queue, in.Gate.Worker, lo, hi, in.Proxy,
			in.Gate.InWorker.Seconds())
	})
	if err != nil {
		return DeliveryTarget{}, fmt.Errorf("starting attempt: %w", translate(err))
	}
	return t, nil
}

// startAttempt is StartAttempt's statement; {deliveries}, {events} and
// {attempts} are the delivery's period's tables (periodTables).
var startAttempt = `
		WITH t AS (
			SELECT d.id, d.account_id, d.event_id, d.webhook_id, d.event_type, d.message_id, d.status, d.status_reason,
				d.attempt_count, d.series, d.workflow_id, d.next_attempt_at, d.last_status_code, d.created_at, d.updated_at,
				d.ordering_key, d.sequence, d.ordered,
				w.id IS NOT NULL AS webhook_exists, coalesce(w.enabled, false) AS webhook_enabled,
				coalesce(w.url, '') AS url, coalesce(w.name, '') AS webhook_name, w.secret_enc, w.previous_secret_enc, w.previous_secret_expires_at,
				e.id AS "event.id", e.type AS "event.type", e.trigger_source AS "event.trigger_source",
				e.app_id AS "event.app_id", e.occurred_at AS "event.occurred_at", e.data AS "event.data",
				e.ordering_key AS "event.ordering_key",
				coalesce(w.max_concurrency, 0) AS max_concurrency, w.rate_limit_per_second, w.throttled_until,
				w.timeout_seconds, w.retry_preset, w.retry_waits, coalesce(w.payload, '') AS payload,
				coalesce(w.trace_context, false) AS trace_context,
				coalesce(w.headers, '[]') AS headers, coalesce(w.auth_type, 'none') AS auth_type,
				coalesce(w.auth_params, '{}') AS auth_params, w.auth_secret_enc,
				coalesce(w.tls_client_cert, '') AS tls_client_cert, w.tls_client_key_enc,
				coalesce(w.tls_ca_bundle, '') AS tls_ca_bundle, coalesce(w.tls_client_cert_sha256, '') AS tls_client_cert_sha256
			FROM {deliveries} d
			JOIN {events} e ON e.account_id = d.account_id AND e.id = d.event_id AND e.created_at = d.created_at
				AND e.created_at >= $11 AND e.created_at < $12
			LEFT JOIN webhooks w ON w.id = d.webhook_id AND w.account_id = d.account_id
			WHERE d.id = $1 AND d.created_at >= $11 AND d.created_at < $12
		), ok AS (
			SELECT * FROM t
			WHERE t.series = $2 AND t.status IN ('pending', 'retrying') AND t.webhook_exists AND (t.webhook_enabled OR $4)
		), rl AS (
			-- Rate-limited only: the webhook row, locked, so its rate_next_at
			-- is the latest one (a later CTE would read the snapshot).
			SELECT w.rate_next_at FROM webhooks w
			WHERE w.id = (SELECT webhook_id FROM ok WHERE NOT $4 AND rate_limit_per_second IS NOT NULL)
			FOR UPDATE
		), dec AS (
			SELECT ok.webhook_id, c.now, CASE
				WHEN $4 THEN 'send'
				WHEN ok.throttled_until > c.now THEN 'throttled'
				WHEN ok.rate_limit_per_second IS NULL THEN 'send'
				WHEN $6::timestamptz >= c.now - make_interval(secs => $8) THEN
					CASE WHEN $6::timestamptz > c.now + interval '10 milliseconds' THEN 'wait' ELSE 'send' END
				WHEN coalesce(rl.rate_next_at, c.now) > c.now + interval '10 milliseconds' THEN 'reserve'
				ELSE 'take' END AS decision,
				CASE WHEN $6::timestamptz >= c.now - make_interval(secs => $8) THEN $6::timestamptz
					ELSE greatest(c.now, rl.rate_next_at) END AS slot,
				ok.rate_limit_per_second AS rps
			FROM ok LEFT JOIN rl ON true, LATERAL (SELECT clock_timestamp() AS now) c
		), nt AS (
			SELECT 1 + coalesce(max(a.try), 0) AS try FROM {attempts} a
			WHERE a.delivery_id = $1 AND a.series = $2 AND a.number = $3
			  AND a.delivery_created_at >= $11 AND a.delivery_created_at < $12
		), lease AS (
			SELECT l.webhook_id, l.slot FROM webhook_leases l, dec
			WHERE NOT $4 AND dec.decision IN ('send', 'take') AND l.webhook_id = dec.webhook_id
			  AND l.slot <= (SELECT max_concurrency FROM ok)
			  AND (l.expires_at IS NULL OR l.expires_at <= dec.now OR (l.delivery_id = $1 AND l.try IS NULL))
			-- A slot handed to this delivery first (try NULL: not taken yet).
			ORDER BY l.delivery_id IS NOT DISTINCT FROM $1 DESC, l.slot LIMIT 1
			FOR UPDATE OF l SKIP LOCKED
		), took AS (
			UPDATE webhook_leases l SET delivery_id = $1, series = $2, number = $3, try = nt.try,
				expires_at = dec.now + make_interval(secs => $7)
			FROM lease, dec, nt WHERE l.webhook_id = lease.webhook_id AND l.slot = lease.slot
			RETURNING l.slot
		), queued AS (
			-- Full: wait in line (the first place kept on a later poll).
			INSERT INTO webhook_waiters AS q (webhook_id, delivery_id, series, workflow_id, worker, in_worker_until)
			SELECT dec.webhook_id, $1, $2, $9, $10,
				CASE WHEN $14::float8 > 0 THEN dec.now + make_interval(secs => $14::float8) END FROM dec
			WHERE NOT $4 AND $9 <> '' AND dec.decision IN ('send', 'take') AND NOT EXISTS (SELECT 1 FROM took)
			ON CONFLICT (delivery_id) DO UPDATE SET series = EXCLUDED.series, workflow_id = EXCLUDED.workflow_id,
				worker = EXCLUDED.worker, poked = false, in_worker_until = EXCLUDED.in_worker_until
			WHERE (q.series, q.workflow_id, q.worker, q.poked, q.in_worker_until) IS DISTINCT FROM
				(EXCLUDED.series, EXCLUDED.workflow_id, EXCLUDED.worker, false, EXCLUDED.in_worker_until)
		), dequeued AS (
			DELETE FROM webhook_waiters WHERE delivery_id = $1 AND EXISTS (SELECT 1 FROM took)
		), rate AS (
			UPDATE webhooks w SET rate_next_at = dec.slot + make_interval(secs => 1.0 / dec.rps)
			FROM dec WHERE w.id = dec.webhook_id
			  AND (dec.decision = 'reserve' OR (dec.decision = 'take' AND EXISTS (SELECT 1 FROM took)))
		), opened AS (
			INSERT INTO {attempts} (delivery_id, series, number, try, url, started_at, duration_ms, auth_method,
				delivery_created_at, proxy, client_cert_sha256)
			-- Only an https request presents the client certificate.
			SELECT ok.id, $2, $3, nt.try, ok.url, $5, 0, ok.auth_type, ok.created_at,
				$13, CASE WHEN ok.url ILIKE 'https:%' THEN ok.tls_client_cert_sha256 ELSE '' END
			FROM ok, nt WHERE $4 OR EXISTS (SELECT 1 FROM took)
			RETURNING try
		)
		SELECT t.*, coalesce((SELECT try FROM opened), 0) AS try,
			coalesce((SELECT CASE
				WHEN decision IN ('send', 'take') THEN CASE WHEN $4 OR EXISTS (SELECT 1 FROM took) THEN 'send' ELSE 'full' END
				WHEN decision IN ('reserve', 'wait') THEN 'reserved'
				ELSE decision END FROM dec), '') AS gate,
			(SELECT now FROM dec) AS gate_now,
			(SELECT slot FROM dec WHERE decision IN ('reserve', 'wait')) AS reserved_for,
			coalesce((SELECT slot FROM took), 0) AS slot
		FROM t`

// AttemptOutcome is the delivery's state after an attempt.
type AttemptOutcome struct {
	Status        delivery.Status
	Reason        string
	NextAttemptAt *time.Time
}

// ThrottleSignal is what an answer says about the receiver's capacity: a
// 429, 502, 503 or 504, or any failed answer with a Retry-After, throttles
// the webhook for max(RetryAfter, Base × 2^(step-1)) (that bounded by Max),
// step counting such answers in a row; a success clears it.
type ThrottleSignal struct {
	Throttle   bool
	RetryAfter time.Duration // already bounded by DELIVERY_RETRY_AFTER_MAX
	Base, Max  time.Duration
}

// Finished is what FinishAttempt did besides recording the attempt.
type Finished struct {
	// Change is the webhook's change: nil for HealthNone, or when a
	// healthy, unthrottled webhook just succeeded again (nothing to tell,
	// and its row is not written).
	Change *HealthChange
	// Woke is the waiter the attempt's slot was handed to, if any: its
	// workflow is to be signalled (flow.SignalSlotFree).
	Woke *Waiter
}

// finishAttemptSQL is FinishAttempt's statement.
var finishAttemptSQL = finishAttemptWith(attemptStats)

// finishAttemptWith is FinishAttempt's statement with statsCTE, the CTE
// named queued that records what the attempt adds to the statistics (a
// benchmark compares ways of doing it: stats_cost_test.go). {deliveries}
// and {attempts} are the delivery's period's tables (periodTables). A
// waiter's delivery (nextWaiter) may be of any period.
func finishAttemptWith(statsCTE string) namedSQL {
	return named(`
		WITH done AS (
			UPDATE {attempts} SET duration_ms = @duration_ms, response_status = @response_status, response_body = @body,
				error = @error, finished_at = @finished_at
			WHERE delivery_id = @delivery_id AND series = @series AND number = @number AND try = @try
			  AND delivery_created_at >= @lo AND delivery_created_at < @hi
		), mine AS (
			-- Kept for a waiter unless above the maximum, or the webhook is
			-- throttled (the waiter would only find it so; the sweep hands
			-- the slot on once the throttle is over).
			SELECT l.webhook_id, l.slot,
				l.slot <= w.max_concurrency AND coalesce(w.throttled_until <= clock_timestamp(), true) AS kept
			FROM webhook_leases l JOIN webhooks w ON w.id = l.webhook_id
			WHERE l.webhook_id = (SELECT webhook_id FROM {deliveries}
			                      WHERE id = @delivery_id AND created_at >= @lo AND created_at < @hi)
			  AND l.delivery_id = @delivery_id AND l.series = @series AND l.number = @number AND l.try = @try
		), ` + nextWaiter + `, released AS (
			-- Handed to the oldest waiter (its hand-off lease runs until it
			-- takes the slot), or freed when nobody waits.
			UPDATE webhook_leases l SET delivery_id = nx.delivery_id, series = nx.series, number = NULL, try = NULL,
				expires_at = CASE WHEN nx.delivery_id IS NULL THEN NULL
					ELSE clock_timestamp() + make_interval(secs => @hand_off) END
			FROM mine LEFT JOIN nx ON true
			WHERE l.webhook_id = mine.webhook_id AND l.slot = mine.slot
			RETURNING l.webhook_id, nx.delivery_id, nx.workflow_id, ` + inWorker("nx") + `
		), dequeued AS (
			DELETE FROM webhook_waiters WHERE seq = (SELECT seq FROM nx)
		), ` + healthUpdate + `, ` + statsCTE + `, moved AS (
			-- A retry waits out the throttle its answer asked for.
			UPDATE {deliveries} SET status = @status, status_reason = @reason, last_status_code = @response_status,
				next_attempt_at = CASE WHEN @next_attempt_at::timestamptz IS NULL THEN NULL
					ELSE greatest(@next_attempt_at::timestamptz, (SELECT until FROM throttle)) END,
				attempt_count = (SELECT count(*) FROM {attempts} WHERE delivery_id = @delivery_id
				                 AND delivery_created_at >= @lo AND delivery_created_at < @hi), updated_at = now()
			WHERE id = @delivery_id AND series = @series AND created_at >= @lo AND created_at < @hi
		)
		SELECT (SELECT row_to_json(h) FROM (
				SELECT id, account_id, name, url, enabled, consecutive_failures, exhausted_streak, failing_since,
					was_failing_since, was_warned, throttled_until FROM health) h) AS change,
			(SELECT row_to_json(r) FROM released r WHERE r.delivery_id IS NOT NULL) AS woke`)
}

// FinishAttempt completes the attempt row StartAttempt opened, hands its
// concurrency slot to the webhook's oldest waiter (or frees it), sets the
// delivery's new state and moves its webhook's health by signal and its
// throttle by th, in one statement.
func (s *Store) FinishAttempt(ctx context.Context, a Attempt, o AttemptOutcome, signal HealthSignal, th ThrottleSignal) (Finished, error) {
	return traced(ctx, "FinishAttempt", func(ctx context.Context) (Finished, error) {
		return s.finishAttempt(ctx, finishAttemptSQL, a, o, signal, th)
	})
}

// finishAttempt is FinishAttempt with statement q (finishAttemptWith).
func (s *Store) finishAttempt(ctx context.Context, q namedSQL, a Attempt, o AttemptOutcome, signal HealthSignal, th ThrottleSignal) (Finished, error) {
	finished := a.StartedAt.Add(time.Duration(a.DurationMS) * time.Millisecond)
	if a.FinishedAt != nil {
		finished = *a.FinishedAt
	}
	body := a.ResponseBody
	if body == nil {
		body = []byte{}
	}
	retryAfter := -1.0 // not throttling
	lo, hi := periodOf(a.DeliveryID)
	if th.Throttle {
		retryAfter = th.RetryAfter.Seconds()
	}
	args, err := q.args(map[string]any{
		"delivery_id": a.DeliveryID, "series": a.Series, "number": a.Number, "try": a.Try,
		"duration_ms": a.DurationMS, "response_status": a.ResponseStatus, "body": body, "error": a.Error,
		"finished_at": finished, "status": o.Status, "reason": o.Reason, "next_attempt_at": o.NextAttemptAt,
		"signal": string(signal), "retry_after": retryAfter, "throttle_base": th.Base.Seconds(),
		"throttle_max": th.Max.Seconds(), "hand_off": HandOffLease.Seconds(), "lo": lo, "hi": hi,
	})
	if err != nil {
		return Finished{}, err
	}
	var out struct {
		Change []byte `db:"change"`
		Woke   []byte `db:"woke"`
	}
	err = s.inPeriod(ctx, lo, func(t periodTables) error { return s.getPrepared(ctx, &out, t.in(q.text), args...) })
	if err != nil {
		return Finished{}, fmt.Errorf("recording attempt: %w", translate(err))
	}
	var f Finished
	if out.Change != nil {
		f.Change = new(HealthChange)
		if err := json.Unmarshal(out.Change, f.Change); err != nil {
			return Finished{}, fmt.Errorf("reading webhook change: %w", err)
		}
	}
	if out.Woke != nil {
		f.Woke = new(Waiter)
		if err := json.Unmarshal(out.Woke, f.Woke); err != nil {
			return Finished{}, fmt.Errorf("reading woken waiter: %w", err)
		}
	}
	return f, nil
}

// FinishDelivery sets a final status without an attempt (e.g. cancelled);
// a failed one counts in the statistics.
func (s *Store) FinishDelivery(ctx context.Context, id uuid.UUID, series int, status delivery.Status, reason string) error {
	lo, hi := periodOf(id)
	_, err := s.db.ExecContext(ctx, `
		WITH ended AS (
			UPDATE deliveries SET status = $3, status_reason = $4, next_attempt_at = NULL, updated_at = now()
			WHERE id = $1 AND series = $2 AND status IN ('pending', 'retrying') AND created_at >= $5 AND created_at < $6
			RETURNING account_id, webhook_id, status
		)`+outcomeStats("ended"), id, series, status, reason, lo, hi)
	if err != nil {
		return fmt.Errorf("finishing delivery: %w", translate(err))
	}
	return nil
}

// Delivery returns one delivery of the account.
func (s *Store) Delivery(ctx context.Context, accountID, id uuid.UUID) (Delivery, error) {
	var d Delivery
	lo, hi := periodOf(id)
	err := s.db.GetContext(ctx, &d, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE id = $1 AND account_id = $2 AND created_at >= $3 AND created_at < $4`, id, accountID, lo, hi)
	if err != nil {
		return Delivery{}, fmt.Errorf("getting delivery: %w", translate(err))
	}
	return d, nil
}

// Attempts returns a delivery's attempts in order.
func (s *Store) Attempts(ctx context.Context, deliveryID uuid.UUID) ([]Attempt, error) {
	out := []Attempt{}
	lo, hi := periodOf(deliveryID)
	err := s.db.SelectContext(ctx, &out, `
		SELECT delivery_id, series, number, try, url, started_at, finished_at, duration_ms, response_status,
			response_body, error, auth_method, proxy, client_cert_sha256
		FROM attempts WHERE delivery_id = $1 AND delivery_created_at >= $2 AND delivery_created_at < $3
		ORDER BY series, number, try`, deliveryID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing attempts: %w", translate(err))
	}
	return out, nil
}

// PendingWorkflows lists the workflows making a webhook's unfinished
// deliveries, so they can be told it was disabled or deleted.
func (s *Store) PendingWorkflows(ctx context.Context, webhookID uuid.UUID) ([]string, error) {
	out := []string{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT DISTINCT workflow_id FROM deliveries WHERE webhook_id = $1 AND status IN ('pending', 'retrying')`, webhookID)
	if err != nil {
		return nil, fmt.Errorf("listing pending deliveries: %w", translate(err))
	}
	return out, nil
}

// StartResend begins series fromSeries+1 of a finished delivery, run by the
// workflow workflowID. It returns ErrConflict when the delivery moved past
// fromSeries meanwhile, or is still in progress — unless its workflow is
// deadWorkflowID: one the caller found gone (a lost start or a terminated
// run), whose delivery would otherwise stay pending forever.
func (s *Store) StartResend(ctx context.Context, accountID, id uuid.UUID, fromSeries int, workflowID, deadWorkflowID string, a *Audit) (Delivery, error) {
	var d Delivery
	lo, hi := periodOf(id)
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &d, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE id = $1 AND account_id = $2 AND created_at >= $3 AND created_at < $4 FOR UPDATE`, id, accountID, lo, hi); err != nil {
			return translate(err)
		}
		if d.Series != fromSeries {
			return fmt.Errorf("%w: delivery was resent meanwhile", ErrConflict)
		}
		if !d.Finished() && (deadWorkflowID == "" || d.WorkflowID != deadWorkflowID) {
			return fmt.Errorf("%w: delivery is still in progress", ErrConflict)
		}
		if a != nil {
			a.Entry.Details = AuditDetails{"webhookId": d.WebhookID.String(), "eventId": d.EventID,
				"previousStatus": string(d.Status), "series": d.Series + 1}
		}
		// The new series takes turns if the webhook is ordered now; a
		// failure of it holds the key again.
		if err := tx.GetContext(ctx, &d, `
			UPDATE deliveries SET series = series + 1, status = 'pending', status_reason = '',
				next_attempt_at = NULL, workflow_id = $2, updated_at = now(),
				ordered = ordering_key <> '' AND coalesce((SELECT ordered FROM webhooks w WHERE w.id = webhook_id), false),
				waiting_for_event = NULL, waiting_for_delivery = NULL, order_released = false
			WHERE id = $1 AND created_at = $3 RETURNING `+deliveryColumns, id, workflowID, d.CreatedAt); err != nil {
			return translate(err)
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("starting resend: %w", err)
	}
	return d, nil
}

// RestoreDelivery inserts, pending, a delivery the database lost (its
// workflow still has it) when its event is still stored; it reports whether
// the row is there now. A delivery's id holds its event's created_at (see
// periodOf): an event stored again since (lost too, and published again)
// is another one, and its lost delivery is not restored.
func (s *Store) RestoreDelivery(ctx context.Context, d Delivery) (bool, error) {
	lo, hi := periodOf(d.ID)
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, status_reason,
			series, workflow_id, ordering_key, sequence, ordered, created_at, trigger_source, test)
		SELECT $1::uuid, e.account_id, e.id, $4, e.type, 'msg_' || replace($1::uuid::text, '-', ''), 'pending',
			'restored: the database had lost this delivery', $5, $6, e.ordering_key, e.sequence,
			e.ordering_key <> '' AND coalesce((SELECT ordered FROM webhooks w WHERE w.id = $4), false),
			e.created_at, e.trigger_source, e.test
		FROM events e WHERE e.account_id = $2 AND e.id = $3 AND e.created_at >= $7 AND e.created_at < $8
		ON CONFLICT DO NOTHING`, d.ID, d.AccountID, d.EventID, d.WebhookID, d.Series, d.WorkflowID, lo, hi)
	if err != nil {
		return false, fmt.Errorf("restoring delivery: %w", translate(err))
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		return true, nil
	}
	var exists bool
	err = s.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM deliveries
		WHERE id = $1 AND created_at >= $2 AND created_at < $3)`, d.ID, lo, hi)
	return exists, translate(err)
}

// DeliveryOutcome is a delivery's final state as its workflow reported it.
type DeliveryOutcome struct {
	ID        uuid.UUID
	WebhookID uuid.UUID
	Status    delivery.Status
	Attempts  int
	Reason    string
}

// RestoreOutcomes makes the log agree with a closed workflow's result: the
// event is marked dispatched, a delivery the database lost is inserted, and
// one still unfinished under that workflow takes the reported final state.
// Nothing already final is changed. It returns how many rows it changed.
func (s *Store) RestoreOutcomes(ctx context.Context, accountID uuid.UUID, eventID, workflowID string, outs []DeliveryOutcome) (int64, error) {
	var changed int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE events SET dispatched_at = now(), dispatch_error = ''
			WHERE account_id = $1 AND id = $2 AND dispatched_at IS NULL`, accountID, eventID)
		if err != nil {
			return translate(err)
		}
		n, _ := res.RowsAffected()
		changed += n
		for _, o := range outs {
			if !o.Status.Finished() {
				continue // not final in the result either (e.g. handed to a resend)
			}
			reason := o.Reason
			if reason == "" {
				reason = "restored from the workflow's result"
			}
			// A delivery that ends here counts in the statistics (its
			// attempts were lost with the commits that recorded them).
			lo, hi := periodOf(o.ID)
			var n int64
			err := tx.GetContext(ctx, &n, `
				WITH restored AS (
					INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status,
						status_reason, attempt_count, workflow_id, created_at, trigger_source)
					SELECT $1::uuid, $2, $3, $4, e.type, 'msg_' || replace($1::uuid::text, '-', ''), $5, $6, $7, $8,
						e.created_at, e.trigger_source
					FROM events e WHERE e.account_id = $2 AND e.id = $3 AND e.created_at >= $9 AND e.created_at < $10
					ON CONFLICT (id, created_at) DO UPDATE SET status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
						attempt_count = greatest(deliveries.attempt_count, EXCLUDED.attempt_count),
						next_attempt_at = NULL, updated_at = now()
					WHERE deliveries.status IN ('pending', 'retrying') AND deliveries.workflow_id = EXCLUDED.workflow_id
					RETURNING account_id, webhook_id, status
				), counted AS (`+outcomeStats("restored")+`
				)
				SELECT count(*) FROM restored`,
				o.ID, accountID, eventID, o.WebhookID, o.Status, reason, o.Attempts, workflowID, lo, hi)
			if err != nil {
				return translate(err)
			}
			changed += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("restoring outcomes of %s: %w", workflowID, err)
	}
	return changed, nil
}

// StaleDeliveries lists unfinished deliveries that should have moved more
// than margin ago: a pending one not updated since (its first attempt is
// overdue), a retrying one whose next attempt is overdue, a waiting one
// (ordered webhooks) that has not checked its turn for waitingMargin.
// Their workflow is then checked.
func (s *Store) StaleDeliveries(ctx context.Context, margin, waitingMargin time.Duration, limit int) ([]Delivery, error) {
	out := []Delivery{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT `+deliveryColumns+` FROM deliveries
		WHERE status IN ('pending', 'retrying') AND updated_at < now() - make_interval(secs => $1)
		  AND (status = 'pending' OR coalesce(next_attempt_at, updated_at) < now() - make_interval(secs => $1))
		  AND (waiting_for_event IS NULL AND waiting_for_delivery IS NULL
		       OR updated_at < now() - make_interval(secs => $3))
		ORDER BY updated_at LIMIT $2`, margin.Seconds(), limit, waitingMargin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("listing stale deliveries: %w", translate(err))
	}
	return out, nil
}

// TouchDelivery moves an unfinished delivery's updated_at to now, so a
// check that found its workflow still running is not repeated at once.
func (s *Store) TouchDelivery(ctx context.Context, id uuid.UUID) error {
	lo, hi := periodOf(id)
	_, err := s.db.ExecContext(ctx, `
		UPDATE deliveries SET updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'retrying') AND created_at >= $2 AND created_at < $3`, id, lo, hi)
	if err != nil {
		return fmt.Errorf("touching delivery: %w", translate(err))
	}
	return nil
}
