package chaos

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/lib/pq" // driver
)

// Schema says which attempts columns the database has: try and finished_at
// come with the per-POST attempt log; without them every row counts as
// finished and as try 1.
type Schema struct {
	Try        bool `json:"try"`
	FinishedAt bool `json:"finishedAt"`
}

// ReadSchema inspects the attempts table.
func ReadSchema(ctx context.Context, db *sql.DB) (Schema, error) {
	var s Schema
	rows, err := db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'attempts'`)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return s, err
		}
		switch c {
		case "try":
			s.Try = true
		case "finished_at":
			s.FinishedAt = true
		}
	}
	return s, rows.Err()
}

// LoadDeliveries reads every delivery of an account with its attempts.
func LoadDeliveries(ctx context.Context, db *sql.DB, accountID string) ([]Delivery, Schema, error) {
	s, err := ReadSchema(ctx, db)
	if err != nil {
		return nil, s, fmt.Errorf("reading the attempts schema: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id::text, event_id, webhook_id::text, message_id, status, attempt_count, created_at
		FROM deliveries WHERE account_id = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, s, err
	}
	var out []Delivery
	idx := map[string]int{}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.WebhookID, &d.MessageID, &d.Status, &d.AttemptCount, &d.CreatedAt); err != nil {
			rows.Close()
			return nil, s, err
		}
		idx[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s, err
	}
	try, finished := "1", "true"
	if s.Try {
		try = "a.try"
	}
	if s.FinishedAt {
		finished = "a.finished_at IS NOT NULL"
	}
	q := fmt.Sprintf(`SELECT a.delivery_id::text, a.series, a.number, %s, COALESCE(a.response_status, 0),
		COALESCE(a.error, ''), %s, a.started_at
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.account_id = $1 ORDER BY a.delivery_id, a.series, a.number, 4`, try, finished)
	rows, err = db.QueryContext(ctx, q, accountID)
	if err != nil {
		return nil, s, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a Attempt
		if err := rows.Scan(&id, &a.Series, &a.Number, &a.Try, &a.ResponseStatus, &a.Error, &a.Finished, &a.StartedAt); err != nil {
			return nil, s, err
		}
		if i, ok := idx[id]; ok {
			out[i].Attempts = append(out[i].Attempts, a)
		}
	}
	return out, s, rows.Err()
}

// Progress is what convergence waits on.
type Progress struct {
	Events       int // events of the account in the database
	Undispatched int // events whose workflow has not recorded them yet
	Open         int // deliveries pending or retrying
}

// ReadProgress counts what is still in flight for an account.
func ReadProgress(ctx context.Context, db *sql.DB, accountID string) (Progress, error) {
	var p Progress
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM events WHERE account_id = $1),
		(SELECT count(*) FROM events WHERE account_id = $1 AND dispatched_at IS NULL),
		(SELECT count(*) FROM deliveries WHERE account_id = $1 AND status IN ('pending', 'retrying'))`,
		accountID).Scan(&p.Events, &p.Undispatched, &p.Open)
	return p, err
}
