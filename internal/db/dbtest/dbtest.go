// Package dbtest gives each test its own PostgreSQL database, cloned from a
// migrated template, on the server named by DATABASE_URL (make test starts
// a throwaway one).
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq" // driver

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

const templateDB = "webhooks_template"

// URL returns DATABASE_URL, skipping the test when it is unset (plain
// `go test` without `make test`).
func URL(t testing.TB) string {
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Skip("DATABASE_URL is not set: run `make test`, which starts PostgreSQL")
	}
	return u
}

// NewStore returns a store on a fresh, migrated database dropped at cleanup.
func NewStore(t testing.TB) *db.Store {
	t.Helper()
	dbURL := NewDatabase(t)
	store, err := db.Open(context.Background(), dbURL, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// NewAccount creates the account "Acme" (professional plan) in store.
func NewAccount(t testing.TB, store *db.Store) db.Account {
	t.Helper()
	acct, err := store.CreateAccount(context.Background(), "Acme", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// NewBlankDatabase creates an empty database, dropped at cleanup, and
// returns its URL: for a test that migrates it itself.
func NewBlankDatabase(t testing.TB) string {
	t.Helper()
	base := URL(t)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "blank_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(base, name) })
	return withDB(t, base, name)
}

func dropDatabase(base, name string) {
	admin, err := sql.Open("postgres", base)
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
}

// NewDatabase creates a fresh migrated database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		t.Fatalf("connecting to %s: %v", base, err)
	}
	defer conn.Close()
	// One clone at a time across all test processes: CREATE DATABASE ...
	// TEMPLATE fails while anyone else is connected to the template.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727274)`)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, templateDB).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+templateDB); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := db.Open(ctx, withDB(t, base, templateDB), 1)
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		// The template may be older than this week: its clones need this
		// week's partitions of the log and the next.
		_, err = tmpl.EnsurePartitions(ctx, db.PartitionWeek)
	}
	if err == nil {
		// And last week's: tests store rows an hour or days in the past,
		// which early in a week (Monday 00:00 UTC) is last week.
		_, err = tmpl.DB().ExecContext(ctx, `SELECT log_partition_add($1, $2)`, Week(-1), Week(0))
	}
	tmpl.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateDB)); err != nil {
		t.Fatalf("cloning template: %v", err)
	}
	t.Cleanup(func() { dropDatabase(base, name) })
	return withDB(t, base, name)
}

func withDB(t testing.TB, base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Week is the start of the ISO week (UTC) n weeks from this one: where
// the log's weekly periods begin.
func Week(n int) time.Time {
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return day.AddDate(0, 0, -(int(day.Weekday())+6)%7+7*n)
}
