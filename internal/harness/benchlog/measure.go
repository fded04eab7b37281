package benchlog

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Rows counts the log's rows.
type Rows struct {
	Events     int64 `json:"events"`
	Deliveries int64 `json:"deliveries"`
	Attempts   int64 `json:"attempts"`
}

func countRows(ctx context.Context, store *db.Store, where map[string]string) (Rows, error) {
	var r Rows
	for table, n := range map[string]*int64{"events": &r.Events, "deliveries": &r.Deliveries, "attempts": &r.Attempts} {
		q := `SELECT count(*) FROM ` + table
		if w := where[table]; w != "" {
			q = `SELECT count(*) FROM ` + w
		}
		if err := store.DB().GetContext(ctx, n, q); err != nil {
			return r, err
		}
	}
	return r, nil
}

// TableSize is one log table's size, its partitions summed.
type TableSize struct {
	Table      string `json:"table"`
	HeapBytes  int64  `json:"heapBytes"` // with TOAST
	IndexBytes int64  `json:"indexBytes"`
	TotalBytes int64  `json:"totalBytes"`
	// Indexes are its indexes' sizes, each partitioned index's partitions
	// summed (the events partitions' own unique index as events_p*_id).
	Indexes map[string]int64 `json:"indexes"`
}

func sizes(ctx context.Context, store *db.Store) ([]TableSize, error) {
	var out []TableSize
	for _, t := range []string{"events", "deliveries", "attempts"} {
		s := TableSize{Table: t, Indexes: map[string]int64{}}
		err := store.DB().QueryRowxContext(ctx, `
			SELECT coalesce(sum(pg_table_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0),
				coalesce(sum(pg_total_relation_size(c.oid)), 0)
			FROM log_partitions() lp JOIN pg_class c ON c.relname = lp.partition WHERE lp.parent = $1`, t).
			Scan(&s.HeapBytes, &s.IndexBytes, &s.TotalBytes)
		if err != nil {
			return nil, err
		}
		rows, err := store.DB().QueryContext(ctx, `
			SELECT coalesce(pi.relname, regexp_replace(ci.relname, '_p[0-9]{8}_', '_p*_')), sum(pg_relation_size(ci.oid))
			FROM log_partitions() lp
			JOIN pg_class c ON c.relname = lp.partition
			JOIN pg_index x ON x.indrelid = c.oid
			JOIN pg_class ci ON ci.oid = x.indexrelid
			LEFT JOIN pg_inherits i ON i.inhrelid = ci.oid
			LEFT JOIN pg_class pi ON pi.oid = i.inhparent
			WHERE lp.parent = $1 GROUP BY 1`, t)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				rows.Close()
				return nil, err
			}
			s.Indexes[name] = n
		}
		rows.Close()
		out = append(out, s)
	}
	return out, nil
}

// Retention compares dropping the oldest period's partitions with deleting
// the oldest remaining day's rows, on the same log.
type Retention struct {
	Drop struct {
		Period   string  `json:"period"` // its events partition
		Rows     Rows    `json:"rows"`
		Seconds  float64 `json:"seconds"`
		WALBytes int64   `json:"walBytes"`
	} `json:"dropPeriod"`
	Delete struct {
		From     time.Time `json:"from"`
		Rows     Rows      `json:"rows"`
		Seconds  float64   `json:"seconds"`
		WALBytes int64     `json:"walBytes"`
		// VacuumSeconds is the VACUUM of the partitions afterwards, which
		// DELETE-based retention owes to reuse the space.
		VacuumSeconds  float64 `json:"vacuumSeconds"`
		VacuumWALBytes int64   `json:"vacuumWalBytes"`
	} `json:"deleteDay"`
}

func walNow(ctx context.Context, store *db.Store) (int64, error) {
	var n int64
	err := store.DB().GetContext(ctx, &n, `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`)
	return int64(n), err
}

// retention drops the oldest period (all of it: its deliveries in progress
// too) and deletes the first day after it, timing both.
func retention(ctx context.Context, store *db.Store, logf func(string, ...any)) (Retention, error) {
	var r Retention
	parts, err := store.Partitions(ctx)
	if err != nil {
		return r, err
	}
	var oldest db.Partition
	for _, p := range parts {
		if p.Parent == "events" {
			oldest = p
			break
		}
	}
	suffix := oldest.Name[len("events"):]
	r.Drop.Period = oldest.Name
	if r.Drop.Rows, err = countRows(ctx, store, map[string]string{"events": "events" + suffix,
		"deliveries": "deliveries" + suffix, "attempts": "attempts" + suffix}); err != nil {
		return r, err
	}
	wal, err := walNow(ctx, store)
	if err != nil {
		return r, err
	}
	began := time.Now()
	dropped, err := store.DropExpiredPartitions(ctx, oldest.Upper, 0)
	if err != nil || len(dropped.Dropped) != 1 {
		return r, fmt.Errorf("dropping %s: %v %v", oldest.Name, dropped, err)
	}
	r.Drop.Seconds = time.Since(began).Seconds()
	walAfter, _ := walNow(ctx, store)
	r.Drop.WALBytes = walAfter - wal
	logf("dropped %s (%d attempts) in %.3f s, %d bytes of WAL", oldest.Name, r.Drop.Rows.Attempts, r.Drop.Seconds, r.Drop.WALBytes)

	// The first whole day after it, by DELETE, as retention was before.
	r.Delete.From = oldest.Upper
	to := oldest.Upper.Add(24 * time.Hour)
	rng := func(col string) string {
		return fmt.Sprintf(`%s >= '%s' AND %s < '%s'`, col, r.Delete.From.Format(time.RFC3339), col, to.Format(time.RFC3339))
	}
	if r.Delete.Rows, err = countRows(ctx, store, map[string]string{"events": "events WHERE " + rng("created_at"),
		"deliveries": "deliveries WHERE " + rng("created_at"), "attempts": "attempts WHERE " + rng("delivery_created_at")}); err != nil {
		return r, err
	}
	wal, _ = walNow(ctx, store)
	began = time.Now()
	for _, q := range []string{`DELETE FROM attempts WHERE ` + rng("delivery_created_at"),
		`DELETE FROM deliveries WHERE ` + rng("created_at"), `DELETE FROM events WHERE ` + rng("created_at")} {
		if _, err := store.DB().ExecContext(ctx, q); err != nil {
			return r, fmt.Errorf("deleting a day: %w", err)
		}
	}
	r.Delete.Seconds = time.Since(began).Seconds()
	walAfter, _ = walNow(ctx, store)
	r.Delete.WALBytes = walAfter - wal
	wal = walAfter
	began = time.Now()
	next := "_p" + to.Add(-time.Nanosecond).UTC().Format("20060102")
	for _, p := range parts {
		if p.Parent == "events" && !p.Lower.After(r.Delete.From) && p.Upper.After(r.Delete.From) {
			next = p.Name[len("events"):]
		}
	}
	for _, t := range []string{"attempts", "deliveries", "events"} {
		if _, err := store.DB().ExecContext(ctx, `VACUUM `+t+next); err != nil {
			return r, fmt.Errorf("vacuuming: %w", err)
		}
	}
	r.Delete.VacuumSeconds = time.Since(began).Seconds()
	walAfter, _ = walNow(ctx, store)
	r.Delete.VacuumWALBytes = walAfter - wal
	logf("deleted the day from %s (%d attempts) in %.3f s (%d bytes of WAL), then VACUUM %.3f s",
		r.Delete.From.Format(time.RFC3339), r.Delete.Rows.Attempts, r.Delete.Seconds, r.Delete.WALBytes, r.Delete.VacuumSeconds)
	return r, nil
}

// HotPath is the store's work for one delivery on the full log: the event
// published (InsertEvent), resolved by its workflow (ResolveEvent), and one
// attempt opened and finished (StartAttempt, FinishAttempt).
type HotPath struct {
	Deliveries int     `json:"deliveries"`
	MeanMS     float64 `json:"meanMs"`
	P50MS      float64 `json:"p50Ms"`
	P99MS      float64 `json:"p99Ms"`
}

func hotPath(ctx context.Context, store *db.Store, n int, acct uuid.UUID) (HotPath, error) {
	h := HotPath{Deliveries: n}
	times := make([]float64, 0, n)
	run := uuid.NewString()[:8]
	for i := range n {
		began := time.Now()
		if err := oneDelivery(ctx, store, acct, fmt.Sprintf("hot_%s_%d", run, i)); err != nil {
			return h, err
		}
		times = append(times, float64(time.Since(began).Microseconds())/1000)
	}
	var sum float64
	for _, t := range times {
		sum += t
	}
	sort.Float64s(times)
	h.MeanMS, h.P50MS, h.P99MS = sum/float64(n), quantile(times, 0.5), quantile(times, 0.99)
	return h, nil
}

// oneDelivery is one 1:1 delivery's statements, as the API and the worker
// make them (the account's webhooks all match: 1-3 deliveries, the first
// attempted).
func oneDelivery(ctx context.Context, store *db.Store, acct uuid.UUID, id string) error {
	ev := db.Event{AccountID: acct, WorkflowID: "event/" + acct.String() + "/" + id, Event: events.Event{ID: id,
		Type: events.EnvelopeSignerSigned, TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(),
		Data: []byte(`{"envelopeId":"env-hot","envelopeStatus":2}`)}}
	stored, _, err := store.InsertEvent(ctx, ev)
	if err != nil {
		return err
	}
	// As the workflow of an event published over HTTP has it: the data in
	// the outbox, stored at its created_at (flow.DeliverEventInput.StoredAt).
	ev.Data, ev.CreatedAt = nil, stored.CreatedAt
	res, err := store.ResolveEvent(ctx, ev)
	if err != nil || len(res.Deliveries) == 0 {
		return fmt.Errorf("resolving %s: %d deliveries, %v", id, len(res.Deliveries), err)
	}
	d := res.Deliveries[0]
	started := time.Now()
	t, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: d.ID, Series: 1, Number: 1, StartedAt: started,
		Gate: db.GateInput{Lease: time.Minute}})
	if err != nil || t.Gate != db.GateSend {
		return fmt.Errorf("starting an attempt of %s: gate %q, %v", id, t.Gate, err)
	}
	code := 200
	_, err = store.FinishAttempt(ctx, db.Attempt{DeliveryID: d.ID, Series: 1, Number: 1, Try: t.Try, StartedAt: started,
		DurationMS: 3, ResponseStatus: &code}, db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthSuccess, db.ThrottleSignal{})
	return err
}
