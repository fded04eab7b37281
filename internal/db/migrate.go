package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock that serialises migrations, so several
// processes starting at once never apply the same file twice.
const migrationLockID = 0x65736967_6e776b // "esignwk"

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	provider, err := s.migrations()
	if err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "source", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// MigrateUpTo applies the pending migrations up to version: a test of a
// migration builds the schema before it, with rows, then migrates.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	provider, err := s.migrations()
	if err != nil {
		return err
	}
	if _, err := provider.UpTo(ctx, version); err != nil {
		return fmt.Errorf("applying migrations up to %d: %w", version, err)
	}
	return nil
}

// MigrateDownTo rolls the applied migrations after version back (tests).
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	provider, err := s.migrations()
	if err != nil {
		return err
	}
	if _, err := provider.DownTo(ctx, version); err != nil {
		return fmt.Errorf("rolling migrations back to %d: %w", version, err)
	}
	return nil
}

// migrations is the migration provider of the store's database.
func (s *Store) migrations() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		return nil, fmt.Errorf("creating migration lock: %w", err)
	}
	// Out of order: branches number their migrations as they start, so a
	// database may have applied a later number (00006) before an earlier
	// one merged afterwards (00005). Each migration stands alone.
	provider, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, sub, goose.WithSessionLocker(locker),
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("creating migration provider: %w", err)
	}
	return provider, nil
}
