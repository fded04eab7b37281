package chaos

// The retention step: a log from before the retention period is written
// beside the run's, and the API process drops its periods (RETENTION, at
// its next upkeep) while the run's deliveries go on. The suite's verdict
// then shows nothing of the run was lost with them.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/benchlog"
)

// RetentionSpec sizes the old log.
type RetentionSpec struct {
	Attempts int           // about this many attempts in the old log
	Within   time.Duration // the API's upkeep runs every minute: bound on the wait for the drop
}

// oldLog is where the step writes: 14 days ending 50 days ago, so every
// period of it ends before now - RETENTION (30 days) - the longest retry
// schedule (the hold for a period with unfinished work).
const (
	oldLogDays       = 14
	oldLogEndDaysAgo = 50
)

// RetentionDrop writes the old log, then waits until the API process has
// dropped every period of it, and checks that each of its rows went and
// that no other row of an old period is left.
func RetentionDrop(spec RetentionSpec) Step {
	return Step{
		Name: fmt.Sprintf("retention: %d old attempts written (%d-%d days ago), their periods dropped by the API's upkeep during deliveries",
			spec.Attempts, oldLogEndDaysAgo+oldLogDays, oldLogEndDaysAgo),
		Do: func(ctx context.Context, r *Run) error {
			// A pool of its own: the run's may still hold connections the
			// PostgreSQL restart before this step broke.
			db, err := sqlx.Open("postgres", r.Cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := benchlog.Generate(ctx, db, benchlog.Spec{Attempts: spec.Attempts, Days: oldLogDays,
				EndDaysAgo: oldLogEndDaysAgo, Accounts: 5, Seed: 0.42}, func(string, ...any) {}); err != nil {
				return fmt.Errorf("writing the old log: %w", err)
			}
			// Nothing of the old log is unfinished: the reconciler would
			// otherwise look for workflows it never had before the drop.
			if _, err := db.ExecContext(ctx, `
				UPDATE deliveries SET status = 'failed', next_attempt_at = NULL
				WHERE status IN ('pending', 'retrying') AND created_at < now() - interval '40 days'`); err != nil {
				return err
			}
			var written int
			if err := db.GetContext(ctx, &written, `SELECT count(*) FROM attempts WHERE started_at < now() - interval '40 days'`); err != nil {
				return err
			}
			r.Logf("retention: %d old attempts written; waiting for the API's upkeep to drop their periods", written)
			deadline := time.Now().Add(spec.Within)
			for {
				var old struct {
					Periods int `db:"periods"`
					Rows    int `db:"rows"`
				}
				err := db.GetContext(ctx, &old, `
					SELECT (SELECT count(*) FROM log_partitions() WHERE upper <= now() - interval '37 days') AS periods,
					       (SELECT count(*) FROM events WHERE created_at < now() - interval '40 days')
					     + (SELECT count(*) FROM deliveries WHERE created_at < now() - interval '40 days')
					     + (SELECT count(*) FROM attempts WHERE started_at < now() - interval '40 days') AS rows`)
				switch {
				case err != nil && ctx.Err() != nil:
					return err
				case err == nil && old.Periods == 0 && old.Rows == 0:
					r.Logf("retention: every old period dropped (%d attempts with their deliveries and events)", written)
					return nil
				case time.Now().After(deadline):
					return errors.New(fmt.Sprint("old periods not dropped within ", spec.Within, ": ", old.Periods,
						" partitions and ", old.Rows, " rows left (err ", err, ")"))
				}
				sleep(ctx, 2*time.Second)
			}
		},
	}
}
