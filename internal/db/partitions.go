package db

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// The log (events, deliveries, attempts) is partitioned by time in periods
// of a day or a week (migration 00015, docs/operations.md "The log:
// partitions and retention"): an event, its deliveries and their attempts
// share one period, whose three partitions are created ahead of time
// (EnsurePartitions) and detached and dropped together once past the
// retention period (DropExpiredPartitions).

// PartitionUnit is how long one period of the log is.
type PartitionUnit string

// Units of a period.
const (
	PartitionDay  PartitionUnit = "day"
	PartitionWeek PartitionUnit = "week"
)

// ahead is how far ahead of now partitions exist: the next period's are
// made a whole period before it starts. The unit "" (an event found no
// partition: continue in the last period's unit) reaches only two days
// ahead, the shorter unit's: that stores the event, and the upkeep, which
// names the configured unit, goes on from there in it.
func (u PartitionUnit) ahead() time.Duration {
	if u == PartitionWeek {
		return 7 * 24 * time.Hour
	}
	return 2 * 24 * time.Hour
}

// EnsurePartitions adds the periods (of unit; "" continues in the last
// period's unit) that make the log's partitions reach a period ahead of
// now, and returns how many it added. Cheap when there is nothing to add.
func (s *Store) EnsurePartitions(ctx context.Context, unit PartitionUnit) (int, error) {
	var u any
	if unit != "" {
		u = string(unit)
	}
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT log_partitions_ensure(now() + make_interval(secs => $1), $2)`,
		unit.ahead().Seconds(), u)
	if err != nil {
		return 0, fmt.Errorf("adding log partitions: %w", translate(err))
	}
	return n, nil
}

// guardPartition runs fn, which stores an event, and when PostgreSQL had no
// partition for it (the maintenance loop did not run for a whole period:
// no API process, or one stopped), adds the partitions and runs fn again:
// an event is never refused for want of a partition.
func (s *Store) guardPartition(ctx context.Context, fn func() error) error {
	err := fn()
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23514" || !strings.HasPrefix(pqErr.Message, "no partition of relation") {
		return err
	}
	if _, ensureErr := s.EnsurePartitions(ctx, ""); ensureErr != nil {
		return fmt.Errorf("%w (after: %v)", ensureErr, err)
	}
	return fn()
}

// Partition is one period's partition of a log table.
type Partition struct {
	Parent        string    `db:"parent"`
	Name          string    `db:"partition"`
	Lower         time.Time `db:"lower"`
	Upper         time.Time `db:"upper"`
	DetachPending bool      `db:"detach_pending"`
}

// Partitions lists the log's partitions, oldest period first.
func (s *Store) Partitions(ctx context.Context) ([]Partition, error) {
	out := []Partition{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT parent, partition, lower, upper, detach_pending FROM log_partitions() ORDER BY lower, parent`)
	if err != nil {
		return nil, fmt.Errorf("listing log partitions: %w", translate(err))
	}
	return out, nil
}

// Retention is what DropExpiredPartitions did.
type Retention struct {
	Dropped []string // the periods dropped, by their events partition
	// Held are periods past the cutoff kept because a delivery in them is
	// still in progress or an event not yet started (until hold ends).
	Held []string
}

// logTables are the partitioned tables, in the order their partitions are
// detached: the rows that refer to others go first.
var logTables = []string{"attempts", "deliveries", "events"}

// partitionName matches a log partition's name (log_partition_add).
var partitionName = regexp.MustCompile(`^(events|deliveries|attempts)(_p[0-9]{8})$`)

// maintenanceLock is the advisory lock one process holds while it drops
// partitions, so two API processes never detach the same one.
const maintenanceLock = 0x65736967_6e7770 // "esignwp"

// DropExpiredPartitions detaches and drops the partitions of every period
// that ended before cutoff: its events, their deliveries and attempts, all
// at once, instead of deleting rows (no dead rows, no vacuum). A period
// with a delivery still in progress or an event not started yet is kept
// while it ended less than hold before cutoff (a retry schedule runs up to
// 7 days; a resend can start late in the retention period), then dropped
// anyway. Another process doing the same at the moment makes this a no-op.
//
// DETACH ... CONCURRENTLY locks the parent only SHARE UPDATE EXCLUSIVE
// (inserts and searches go on) and waits for the queries that may still
// read the partition; a detach interrupted half-way is finished on the
// next run, and a partition detached but not dropped is dropped then.
func (s *Store) DropExpiredPartitions(ctx context.Context, cutoff time.Time, hold time.Duration) (Retention, error) {
	var r Retention
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return r, fmt.Errorf("dropping log partitions: %w", err)
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, maintenanceLock).Scan(&locked); err != nil || !locked {
		return r, translate(err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, maintenanceLock)
	}()
	// DDL here waits for locks a while, never indefinitely: another try
	// comes with the next run.
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = '10s'`); err != nil {
		return r, translate(err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `RESET lock_timeout`) }()
	if err := finishDetached(ctx, conn); err != nil {
		return r, err
	}
	periods, err := expiredPeriods(ctx, conn, cutoff)
	if err != nil {
		return r, err
	}
	for _, p := range periods {
		if p.busy && p.upper.After(cutoff.Add(-hold)) {
			r.Held = append(r.Held, "events"+p.suffix)
			continue
		}
		if err := dropPeriod(ctx, conn, p.suffix); err != nil {
			return r, err
		}
		r.Dropped = append(r.Dropped, "events"+p.suffix)
	}
	if len(r.Dropped) > 0 {
		s.periods.forget()
		// A waiter's delivery went with its period (no foreign key now).
		_, err := conn.ExecContext(ctx, `
			DELETE FROM webhook_waiters q WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = q.delivery_id)`)
		if err != nil {
			return r, fmt.Errorf("deleting waiters of dropped deliveries: %w", translate(err))
		}
	}
	return r, nil
}

// period is one period past the cutoff: its partitions' suffix, its end,
// and whether anything in it is unfinished.
type period struct {
	suffix string
	upper  time.Time
	busy   bool
}

// expiredPeriods lists the periods whose events partition ended by cutoff.
func expiredPeriods(ctx context.Context, conn *sql.Conn, cutoff time.Time) ([]period, error) {
	rows, err := conn.QueryContext(ctx, `
		SELECT partition, upper FROM log_partitions()
		WHERE parent = 'events' AND upper <= $1 AND NOT detach_pending ORDER BY lower`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("listing expired log partitions: %w", translate(err))
	}
	var out []period
	for rows.Next() {
		var name string
		var p period
		if err := rows.Scan(&name, &p.upper); err != nil {
			rows.Close()
			return nil, err
		}
		m := partitionName.FindStringSubmatch(name)
		if m == nil {
			continue // not one of ours: left alone
		}
		p.suffix = m[2]
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, p := range out {
		// Each partition's own partial indexes answer at once.
		err := conn.QueryRowContext(ctx, fmt.Sprintf(`
			SELECT EXISTS (SELECT 1 FROM %s WHERE status IN ('pending', 'retrying'))
			    OR EXISTS (SELECT 1 FROM %s WHERE dispatched_at IS NULL)`,
			pq.QuoteIdentifier("deliveries"+p.suffix), pq.QuoteIdentifier("events"+p.suffix))).Scan(&out[i].busy)
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", p.suffix, translate(err))
		}
	}
	return out, nil
}

// dropPeriod detaches the period's three partitions and drops them.
func dropPeriod(ctx context.Context, conn *sql.Conn, suffix string) error {
	for _, t := range logTables {
		var attached bool
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM log_partitions() WHERE partition = $1)`,
			t+suffix).Scan(&attached); err != nil {
			return translate(err)
		}
		if !attached {
			continue
		}
		// Not in a transaction, and no parameters: DETACH CONCURRENTLY
		// refuses to run in one.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY`,
			pq.QuoteIdentifier(t), pq.QuoteIdentifier(t+suffix))); err != nil {
			return fmt.Errorf("detaching %s%s: %w", t, suffix, translate(err))
		}
	}
	return dropTables(ctx, conn, suffix)
}

// dropTables drops the period's detached tables that exist.
func dropTables(ctx context.Context, conn *sql.Conn, suffix string) error {
	names := make([]string, 0, len(logTables))
	for _, t := range logTables {
		names = append(names, pq.QuoteIdentifier(t+suffix))
	}
	if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("dropping partitions %s: %w", suffix, translate(err))
	}
	return nil
}

// finishDetached completes what an interrupted run left: a detach left
// pending is finalized, and a partition detached but not dropped (it is
// no table's partition any more) is dropped with its period.
func finishDetached(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT parent, partition FROM log_partitions() WHERE detach_pending`)
	if err != nil {
		return fmt.Errorf("listing pending detaches: %w", translate(err))
	}
	var pending [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			rows.Close()
			return err
		}
		pending = append(pending, p)
	}
	rows.Close()
	for _, p := range pending {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s FINALIZE`,
			pq.QuoteIdentifier(p[0]), pq.QuoteIdentifier(p[1]))); err != nil {
			return fmt.Errorf("finishing the detach of %s: %w", p[1], translate(err))
		}
	}
	var loose []string
	err = sqlSelectStrings(ctx, conn, &loose, `
		SELECT relname FROM pg_class
		WHERE relkind = 'r' AND NOT relispartition AND relnamespace = current_schema()::regnamespace
		  AND relname ~ '^(events|deliveries|attempts)_p[0-9]{8}$'`)
	if err != nil {
		return fmt.Errorf("listing detached partitions: %w", err)
	}
	done := map[string]bool{}
	for _, name := range loose {
		suffix := partitionName.FindStringSubmatch(name)[2]
		if done[suffix] {
			continue
		}
		done[suffix] = true
		// Its siblings may still be attached (interrupted between two
		// detaches): they go the same way.
		if err := dropPeriod(ctx, conn, suffix); err != nil {
			return err
		}
	}
	return nil
}

func sqlSelectStrings(ctx context.Context, conn *sql.Conn, out *[]string, query string) error {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// uuidV7 is the SQL of a new UUIDv7 (RFC 9562: 48 bits of Unix
// milliseconds, the version, then random bits) of the time ts (SQL): a
// random UUID with its first 6 bytes replaced. Built-in functions only (a
// SQL function would be run through the SQL-function executor, at a cost,
// for every delivery).
func uuidV7(ts string) string {
	return `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
		substring(int8send(floor(extract(epoch FROM ` + ts + `) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
		52, 1), 53, 1), 'hex')::uuid`
}

// UUIDv7SQL is uuidV7, for the log bench's generator.
func UUIDv7SQL(ts string) string { return uuidV7(ts) }

// periodTables are the log's tables a statement of the hot path names for
// one delivery: the partitions of its period when the store knows them,
// else the partitioned tables. PostgreSQL 15 locks and sets up every
// partition of a partitioned table a generic plan names, even those it
// prunes when the statement starts: naming the period's partitions cut
// the PostgreSQL CPU of a 1:1 delivery by about a third in
// BenchmarkDeliveryPath (6 periods). Everything else names the
// partitioned tables.
type periodTables struct{ events, deliveries, attempts string }

var partitionedTables = periodTables{"events", "deliveries", "attempts"}

// in is the statement q with its {events}, {deliveries} and {attempts}
// naming t's tables.
func (t periodTables) in(q string) string {
	return strings.NewReplacer("{events}", t.events, "{deliveries}", t.deliveries, "{attempts}", t.attempts).Replace(q)
}

// periodCache holds the periods the store has seen, newest last.
type periodCache struct {
	mu      sync.Mutex
	periods []Partition // of events: the three tables share each period's suffix
	loaded  time.Time
}

// reloadEvery bounds how often a time outside every known period reloads
// them (a new period, made by another process).
const reloadEvery = time.Second

// tablesAt are the tables of the period holding t: its partitions, or the
// partitioned tables when t is zero or in no period the store knows.
func (s *Store) tablesAt(ctx context.Context, t time.Time) periodTables {
	if t.IsZero() || t.Before(anyTimeLo.Add(time.Hour)) {
		return partitionedTables
	}
	c := &s.periods
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.find(t); ok {
		return p
	}
	if time.Since(c.loaded) < reloadEvery {
		return partitionedTables
	}
	c.loaded = time.Now()
	var ps []Partition
	err := s.db.SelectContext(ctx, &ps, `
		SELECT parent, partition, lower, upper, detach_pending FROM log_partitions()
		WHERE parent = 'events' AND NOT detach_pending ORDER BY lower`)
	if err != nil {
		return partitionedTables
	}
	c.periods = ps
	p, _ := c.find(t)
	return p
}

// find looks t up among the cached periods.
func (c *periodCache) find(t time.Time) (periodTables, bool) {
	for i := len(c.periods) - 1; i >= 0; i-- {
		p := c.periods[i]
		if !t.Before(p.Lower) && t.Before(p.Upper) {
			suffix := strings.TrimPrefix(p.Name, "events")
			return periodTables{"events" + suffix, "deliveries" + suffix, "attempts" + suffix}, true
		}
	}
	return partitionedTables, false
}

// forget drops the cached periods (one was dropped or detached).
func (c *periodCache) forget() {
	c.mu.Lock()
	c.periods, c.loaded = nil, time.Time{}
	c.mu.Unlock()
}

// inPeriod runs fn with the tables of the period holding t; when they are
// gone meanwhile (the period was dropped: PostgreSQL says an undefined
// table), it runs it again with the partitioned tables.
func (s *Store) inPeriod(ctx context.Context, t time.Time, fn func(periodTables) error) error {
	pt := s.tablesAt(ctx, t)
	err := fn(pt)
	var pqErr *pq.Error
	if pt != partitionedTables && errors.As(err, &pqErr) && pqErr.Code == "42P01" {
		s.periods.forget()
		return fn(partitionedTables)
	}
	return err
}

// Bounds of created_at for an id that names no period: every partition.
var (
	anyTimeLo = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	anyTimeHi = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// periodOf bounds the created_at of the delivery id (and its attempts'
// delivery_created_at), so that a lookup by id reads one partition: a
// UUIDv7 holds that time to the millisecond (see 00015). An older id (v4)
// may be in any.
func periodOf(id uuid.UUID) (lo, hi time.Time) {
	if id.Version() != 7 {
		return anyTimeLo, anyTimeHi
	}
	var ms [8]byte
	copy(ms[2:], id[:6])
	t := time.UnixMilli(int64(binary.BigEndian.Uint64(ms[:]))).UTC()
	return t, t.Add(time.Millisecond)
}
