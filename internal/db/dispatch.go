package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// EventsChannel is the PostgreSQL notification channel on which the api
// process names the events it stored, for the worker processes to start
// their workflows (the outbox's "workers" mode).
const EventsChannel = "webhookd_events"

// EventKey names a stored event: its account and id, and when it was
// stored (its partition).
type EventKey struct {
	AccountID uuid.UUID `json:"a"`
	ID        string    `json:"i"`
	CreatedAt time.Time `json:"c"`
}

// NotifyEvents names the stored events on EventsChannel in one
// notification (PostgreSQL's payload limit is 8,000 bytes: the caller
// keeps batches under it; see MaxNotifyBytes).
func (s *Store) NotifyEvents(ctx context.Context, payload []byte) error {
	if err := s.notify(ctx, EventsChannel, string(payload)); err != nil {
		return fmt.Errorf("notifying stored events: %w", err)
	}
	return nil
}

// MaxNotifyBytes bounds one notification's payload (PostgreSQL refuses
// 8,000 bytes and more).
const MaxNotifyBytes = 7900

// ParseEventKeys reads a notification's payload.
func ParseEventKeys(payload string) ([]EventKey, error) {
	var keys []EventKey
	if err := json.Unmarshal([]byte(payload), &keys); err != nil {
		return nil, fmt.Errorf("reading a notification of stored events: %w", err)
	}
	return keys, nil
}

// UndispatchedByKeys returns those of the named events whose workflow has
// not recorded them yet.
func (s *Store) UndispatchedByKeys(ctx context.Context, keys []EventKey) ([]Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	accts, ids := make([]string, len(keys)), make([]string, len(keys))
	since := keys[0].CreatedAt
	for i, k := range keys {
		accts[i], ids[i] = k.AccountID.String(), k.ID
		if k.CreatedAt.Before(since) {
			since = k.CreatedAt
		}
	}
	out := []Event{}
	// created_at >= the oldest: PostgreSQL reads the periods from it on.
	err := s.db.SelectContext(ctx, &out, `
		SELECT `+eventColumns+` FROM events
		WHERE created_at >= $3 AND dispatched_at IS NULL
		  AND (account_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))`,
		pq.Array(accts), pq.Array(ids), since)
	if err != nil {
		return nil, fmt.Errorf("reading notified events: %w", translate(err))
	}
	return out, nil
}

// DispatcherBeat records that the dispatcher id is alive, forgets those
// silent for longer than ttl, and returns the live ones (id included), in
// one statement.
func (s *Store) DispatcherBeat(ctx context.Context, id uuid.UUID, ttl time.Duration) ([]uuid.UUID, error) {
	var live []uuid.UUID
	// The statement's SELECT sees the table as it was before its writes:
	// hence the UNION with id and the age check.
	err := s.db.SelectContext(ctx, &live, `
		WITH beat AS (
			INSERT INTO outbox_dispatchers (id, seen_at) VALUES ($1, now())
			ON CONFLICT (id) DO UPDATE SET seen_at = now()
		), gone AS (
			DELETE FROM outbox_dispatchers WHERE seen_at < now() - make_interval(secs => $2) AND id <> $1
		)
		SELECT id FROM outbox_dispatchers WHERE seen_at >= now() - make_interval(secs => $2)
		UNION SELECT $1::uuid ORDER BY 1`, id, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("recording the dispatcher's heartbeat: %w", translate(err))
	}
	return live, nil
}

// LeaveDispatchers removes the dispatcher id at once (a clean shutdown):
// the others take its events at their next heartbeat.
func (s *Store) LeaveDispatchers(ctx context.Context, id uuid.UUID) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM outbox_dispatchers WHERE id = $1`, id); err != nil {
		return fmt.Errorf("removing the dispatcher: %w", translate(err))
	}
	return nil
}

// Listen calls handle with the payload of each notification on channel
// until ctx ends, on a connection of its own that reconnects after it is
// lost (what was notified meanwhile is missed: callers have a fallback).
// report hears of the connection's troubles. ready, if not nil, is called
// once it listens (it waits for a connection however long that takes).
// It returns an error only when it could not listen.
func (s *Store) Listen(ctx context.Context, channel string, report func(pq.ListenerEventType, error), ready func(), handle func(payload string)) error {
	l := pq.NewListener(s.url, time.Second, 30*time.Second, report)
	defer l.Close() // also ends a Listen still waiting
	listening := make(chan error, 1)
	go func() { listening <- l.Listen(channel) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-listening:
		if err != nil {
			return err
		}
	}
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n != nil { // nil: reconnected
				handle(n.Extra)
			}
		}
	}
}

// notify sends payload on channel.
func (s *Store) notify(ctx context.Context, channel, payload string) error {
	_, err := s.hot.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return translate(err)
}

// LiveDispatchers counts the dispatchers heard from within ttl.
func (s *Store) LiveDispatchers(ctx context.Context, ttl time.Duration) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM outbox_dispatchers WHERE seen_at >= now() - make_interval(secs => $1)`,
		ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("counting dispatchers: %w", translate(err))
	}
	return n, nil
}
