package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Console sign-in: a one-time link (minted by the product's backend with an
// admin key) is exchanged for a server-side session. Both are random 256-bit
// tokens of which only the SHA-256 hash is stored.

var (
	// ErrLinkUsed is returned for a console link that was already opened.
	ErrLinkUsed = errors.New("db: console link already used")
	// ErrLinkExpired is returned for a console link past its expiry.
	ErrLinkExpired = errors.New("db: console link expired")
)

// NewConsoleToken returns a random 256-bit token, URL-safe.
func NewConsoleToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashConsoleToken is what is stored of a link token or session id.
func HashConsoleToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ConsoleLink is a one-time sign-in link to mint.
type ConsoleLink struct {
	AccountID uuid.UUID
	Role      string // RoleAdmin or RoleMember
	ReturnURL string
	ExpiresAt time.Time
}

// CreateConsoleLink stores a new link, with a's record, and returns its
// token (shown once).
func (s *Store) CreateConsoleLink(ctx context.Context, l ConsoleLink, a *Audit) (string, error) {
	token, err := NewConsoleToken()
	if err != nil {
		return "", err
	}
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO console_links (token_hash, account_id, role, return_url, expires_at)
			VALUES ($1, $2, $3, $4, $5)`,
			HashConsoleToken(token), l.AccountID, l.Role, l.ReturnURL, l.ExpiresAt); err != nil {
			return translate(err)
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return "", fmt.Errorf("creating console link: %w", err)
	}
	return token, nil
}

// SessionRef names a console session in the audit log: derived from its
// id like the stored hash, but neither the cookie nor the hash, so the log
// cannot be used to sign in or to find the session row.
func SessionRef(id string) string {
	h := sha256.Sum256([]byte("webhookd console session ref:" + id))
	return "cs_" + hex.EncodeToString(h[:8])
}

// ConsoleSession is a signed-in console user: an account and a role.
type ConsoleSession struct {
	AccountID  uuid.UUID `db:"account_id"`
	Role       string    `db:"role"`
	ReturnURL  string    `db:"return_url"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

const consoleSessionColumns = `account_id, role, return_url, created_at, last_seen_at, expires_at`

// UseConsoleLink marks the link used and opens a session for it, in one
// transaction, returning the session and its id (shown once, as a
// cookie). A link is used at most once; ErrLinkUsed, ErrLinkExpired or
// ErrNotFound say why it was refused. a is the sign-in's record: the
// store fills in the account and the session as its actor and resource.
func (s *Store) UseConsoleLink(ctx context.Context, token string, now time.Time, maxAge time.Duration, a *Audit) (ConsoleSession, string, error) {
	id, err := NewConsoleToken()
	if err != nil {
		return ConsoleSession{}, "", err
	}
	var sess ConsoleSession
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		var link struct {
			AccountID uuid.UUID  `db:"account_id"`
			Role      string     `db:"role"`
			ReturnURL string     `db:"return_url"`
			ExpiresAt time.Time  `db:"expires_at"`
			UsedAt    *time.Time `db:"used_at"`
		}
		err := tx.GetContext(ctx, &link, `
			SELECT account_id, role, return_url, expires_at, used_at
			FROM console_links WHERE token_hash = $1 FOR UPDATE`, HashConsoleToken(token))
		switch {
		case err != nil:
			return translate(err)
		case link.UsedAt != nil:
			return ErrLinkUsed
		case !now.Before(link.ExpiresAt):
			return ErrLinkExpired
		}
		if _, err := tx.ExecContext(ctx, `UPDATE console_links SET used_at = $2 WHERE token_hash = $1`,
			HashConsoleToken(token), now); err != nil {
			return translate(err)
		}
		if err := tx.GetContext(ctx, &sess, `
			INSERT INTO console_sessions (id_hash, account_id, role, return_url, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING `+consoleSessionColumns,
			HashConsoleToken(id), link.AccountID, link.Role, link.ReturnURL, now, now.Add(maxAge)); err != nil {
			return translate(err)
		}
		if a != nil {
			e := &a.Entry
			e.AccountID, e.ActorID, e.ActorRole, e.ResourceID = sess.AccountID, SessionRef(id), sess.Role, SessionRef(id)
			e.Details = AuditDetails{"expiresAt": sess.ExpiresAt.UTC()}
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return ConsoleSession{}, "", fmt.Errorf("using console link: %w", err)
	}
	return sess, id, nil
}

// TouchConsoleSession returns the session with id if it is neither past its
// absolute expiry nor idle for longer than idle, and records now as its
// last use; ErrNotFound otherwise.
func (s *Store) TouchConsoleSession(ctx context.Context, id string, now time.Time, idle time.Duration) (ConsoleSession, error) {
	var sess ConsoleSession
	err := s.db.GetContext(ctx, &sess, `
		UPDATE console_sessions SET last_seen_at = $2
		WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3
		RETURNING `+consoleSessionColumns, HashConsoleToken(id), now, now.Add(-idle))
	if err != nil {
		return ConsoleSession{}, fmt.Errorf("getting console session: %w", translate(err))
	}
	return sess, nil
}

// DeleteConsoleSession signs a session out, with a's record.
func (s *Store) DeleteConsoleSession(ctx context.Context, id string, a *Audit) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, HashConsoleToken(id)); err != nil {
			return err
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("deleting console session: %w", err)
	}
	return nil
}

// PurgeConsole deletes links and sessions that can no longer be used:
// expired links (kept a day so a late click still says "expired"), and
// sessions past their absolute expiry or idle longer than idle.
func (s *Store) PurgeConsole(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	var n int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM console_links WHERE expires_at < $1`, []any{now.Add(-24 * time.Hour)}},
		{`DELETE FROM console_sessions WHERE expires_at < $1 OR last_seen_at < $2`, []any{now, now.Add(-idle)}},
	} {
		res, err := s.db.ExecContext(ctx, q.sql, q.args...)
		if err != nil {
			return n, fmt.Errorf("purging console sign-ins: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}
