// Package db holds the PostgreSQL store: plain SQL through sqlx, one file per
// table, and the versioned migrations applied at start-up.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

var (
	// ErrNotFound is returned when a row does not exist (or belongs to another account).
	ErrNotFound = errors.New("db: not found")
	// ErrConflict is returned when a unique constraint is violated.
	ErrConflict = errors.New("db: conflict")
	// ErrLimitReached is returned when a create would exceed a quota.
	ErrLimitReached = errors.New("db: limit reached")
)

// Store wraps the connection pool. Methods take ctx first and return wrapped
// errors; sql.ErrNoRows becomes ErrNotFound, a unique violation ErrConflict.
type Store struct {
	db *sqlx.DB
	// hot is the pool of the hot path's prepared statements (prepared),
	// whose connections plan them once, generically: PostgreSQL spent more
	// CPU planning them than running them (docs/profile-notes.md). On
	// partitioned tables it would plan them anew on every run (a generic
	// plan looks costlier, as it lists every partition), so this pool
	// forces generic plans, which read only the partitions their inputs
	// name (pruned when the statement starts). Other queries run on db
	// with plans made for their values.
	hot *sqlx.DB
	// stmts caches the prepared statements (query text → *sqlx.Stmt).
	stmts sync.Map
	// periods are the log's periods, for the hot path's statements to name
	// a delivery's partitions (periodTables).
	periods periodCache
	// url is the connection string, for connections of their own (Listen).
	url string
}

// Open connects to PostgreSQL and checks the connection. The store opens
// two pools of up to maxConns connections each (see Store.hot).
func Open(ctx context.Context, url string, maxConns int) (*Store, error) {
	conn, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	connector, err := pq.NewConnector(url)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("opening database: %w", err)
	}
	hot := sqlx.NewDb(sql.OpenDB(genericPlans{connector}), "postgres")
	for _, p := range []*sqlx.DB{conn, hot} {
		if maxConns > 0 {
			p.SetMaxOpenConns(maxConns)
			p.SetMaxIdleConns(maxConns)
		}
		p.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, p := range []*sqlx.DB{conn, hot} {
		if err := p.PingContext(pingCtx); err != nil {
			conn.Close()
			hot.Close()
			return nil, fmt.Errorf("connecting to database: %w", err)
		}
	}
	return &Store{db: conn, hot: hot, url: url}, nil
}

// genericPlans opens connections that plan prepared statements generically.
type genericPlans struct{ driver.Connector }

func (c genericPlans) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`, nil); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// DB exposes the pool for migrations and tests.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pools.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool {
		_ = st.(*sqlx.Stmt).Close()
		return true
	})
	return errors.Join(s.hot.Close(), s.db.Close())
}

// prepared returns query prepared once for the hot pool (database/sql
// prepares it again on each connection that runs it). Only for statements
// whose result columns are listed, so a migration never changes them under
// a running binary.
func (s *Store) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.hot.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// getPrepared is GetContext through a prepared statement.
func (s *Store) getPrepared(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// selectPrepared is SelectContext through a prepared statement.
func (s *Store) selectPrepared(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// Ping reports whether the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	for _, p := range []*sqlx.DB{s.db, s.hot} {
		if err := ping(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// ping pings on p until a connection answers or a new one fails: after an
// outage the pool's idle connections are dead, and database/sql retries
// taking a connection, not the ping it failed.
func ping(ctx context.Context, p *sqlx.DB) error {
	var err error
	for range p.Stats().OpenConnections + 1 {
		if err = p.PingContext(ctx); !errors.Is(err, driver.ErrBadConn) {
			return err
		}
	}
	return err
}

// queryer is what both *sqlx.DB and *sqlx.Tx offer.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return fmt.Errorf("rolling back: %v (after %w)", rbErr, err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// translate maps driver errors onto the package's sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrConflict, pqErr.Constraint)
		case "22P02": // invalid_text_representation, e.g. a malformed uuid
			return ErrNotFound
		}
	}
	return err
}

// Unavailable reports whether err means PostgreSQL could not be reached or
// refuses work for now (an outage, not a mistake in the request): network
// errors, a dropped connection, SQLSTATE class 08 (connection exception),
// 57P01-57P03 (admin or crash shutdown, cannot connect now), 53300 (too many
// connections), or a deadline that ran out waiting for it. Callers answer
// "try again later" instead of an internal error.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return pqErr.Code.Class() == "08"
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
