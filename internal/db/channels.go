package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Channel is a notification channel of an account (migration 00018):
// e-mail recipients, or a team chat's robot whose URL (it holds the
// platform's token) and signing secret are sealed.
type Channel struct {
	ID          uuid.UUID      `db:"id"`
	AccountID   uuid.UUID      `db:"account_id"`
	Name        string         `db:"name"`
	Kind        string         `db:"kind"`
	Language    string         `db:"language"`
	Recipients  pq.StringArray `db:"recipients"`
	URLEnc      []byte         `db:"url_enc"`
	URLHint     string         `db:"url_hint"`
	SecretEnc   []byte         `db:"secret_enc"`
	NoticeTypes pq.StringArray `db:"notice_types"`
	Enabled     bool           `db:"enabled"`
	LastSentAt  *time.Time     `db:"last_sent_at"`
	LastOK      *bool          `db:"last_ok"`
	LastError   string         `db:"last_error"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
}

const channelColumns = `id, account_id, name, kind, language, recipients, url_enc, url_hint, secret_enc, notice_types,
	enabled, last_sent_at, last_ok, last_error, created_at, updated_at`

// ChannelURLAAD and ChannelSecretAAD bind a channel's sealed URL and
// secret to its row.
func ChannelURLAAD(id uuid.UUID) []byte    { return []byte("channel-url:" + id.String()) }
func ChannelSecretAAD(id uuid.UUID) []byte { return []byte("channel-secret:" + id.String()) }

// CreateChannel stores a channel (its id chosen by the caller: the
// sealed values' additional data), with a's record.
func (s *Store) CreateChannel(ctx context.Context, c Channel, a *Audit) (Channel, error) {
	var out Channel
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &out, `
			INSERT INTO notification_channels (id, account_id, name, kind, language, recipients, url_enc, url_hint,
				secret_enc, notice_types, enabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING `+channelColumns,
			c.ID, c.AccountID, c.Name, c.Kind, c.Language, pq.StringArray(nonNil(c.Recipients)), c.URLEnc, c.URLHint,
			c.SecretEnc, pq.StringArray(nonNil(c.NoticeTypes)), c.Enabled); err != nil {
			return translate(err)
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Channel{}, fmt.Errorf("creating channel: %w", err)
	}
	return out, nil
}

// Channel returns one channel of the account.
func (s *Store) Channel(ctx context.Context, accountID, id uuid.UUID) (Channel, error) {
	return channelIn(ctx, s.db, accountID, id)
}

// channelIn is Channel through q (the pool, or a transaction).
func channelIn(ctx context.Context, q queryer, accountID, id uuid.UUID) (Channel, error) {
	var c Channel
	err := q.GetContext(ctx, &c, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return Channel{}, fmt.Errorf("getting channel: %w", translate(err))
	}
	return c, nil
}

// ListChannels returns the account's channels by name.
func (s *Store) ListChannels(ctx context.Context, accountID uuid.UUID) ([]Channel, error) {
	out := []Channel{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+channelColumns+` FROM notification_channels WHERE account_id = $1 ORDER BY name, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("listing channels: %w", translate(err))
	}
	return out, nil
}

// UpdateChannel applies edit to the locked row and stores it, with a's
// record (its Diff gets nothing: ChannelDiff below is given the rows).
func (s *Store) UpdateChannel(ctx context.Context, accountID, id uuid.UUID, edit func(*Channel) error,
	diff func(before, after Channel) AuditChanges, a *Audit) (Channel, error) {
	var c Channel
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &c, `SELECT `+channelColumns+` FROM notification_channels
			WHERE id = $1 AND account_id = $2 FOR UPDATE`, id, accountID); err != nil {
			return translate(err)
		}
		before := c
		if err := edit(&c); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &c, `
			UPDATE notification_channels SET name = $3, language = $4, recipients = $5, url_enc = $6, url_hint = $7,
				secret_enc = $8, notice_types = $9, enabled = $10, updated_at = now()
			WHERE id = $1 AND account_id = $2 RETURNING `+channelColumns,
			id, accountID, c.Name, c.Language, pq.StringArray(nonNil(c.Recipients)), c.URLEnc, c.URLHint, c.SecretEnc,
			pq.StringArray(nonNil(c.NoticeTypes)), c.Enabled); err != nil {
			return translate(err)
		}
		if a != nil && diff != nil {
			a.Entry.Changes = diff(before, c)
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Channel{}, fmt.Errorf("updating channel: %w", err)
	}
	return c, nil
}

// DeleteChannel deletes a channel (and the notices it was owed), with a's
// record.
func (s *Store) DeleteChannel(ctx context.Context, accountID, id uuid.UUID, a *Audit) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var name string
		if err := tx.GetContext(ctx, &name, `DELETE FROM notification_channels WHERE id = $1 AND account_id = $2 RETURNING name`,
			id, accountID); err != nil {
			return translate(err)
		}
		if a != nil {
			a.Entry.Details = AuditDetails{"name": name}
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("deleting channel: %w", err)
	}
	return nil
}

// RecordChannelResult stores the outcome of a send to a channel (a test
// notice or a notice): what its page shows as the last result.
func (s *Store) RecordChannelResult(ctx context.Context, id uuid.UUID, at time.Time, sendErr error) error {
	msg := ""
	if sendErr != nil {
		msg = sendErr.Error()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE notification_channels SET last_sent_at = $2, last_ok = $3, last_error = $4 WHERE id = $1`,
		id, at, sendErr == nil, msg)
	if err != nil {
		return fmt.Errorf("recording a channel's result: %w", translate(err))
	}
	return nil
}

// ChannelNotice is a notice owed to a channel.
type ChannelNotice struct {
	ID           uuid.UUID       `db:"id"`
	ChannelID    uuid.UUID       `db:"channel_id"`
	AccountID    uuid.UUID       `db:"account_id"`
	EventID      string          `db:"event_id"`
	EventType    string          `db:"event_type"`
	WebhookID    string          `db:"webhook_id"`
	Data         json.RawMessage `db:"data"`
	CreatedAt    time.Time       `db:"created_at"`
	DispatchedAt *time.Time      `db:"dispatched_at"`
	SentAt       *time.Time      `db:"sent_at"`
	Attempts     int             `db:"attempts"`
	LastError    string          `db:"last_error"`
}

const channelNoticeColumns = `id, channel_id, account_id, event_id, event_type, webhook_id, data, created_at, dispatched_at,
	sent_at, attempts, last_error`

// UndispatchedNotices returns up to limit notices not yet handed to
// Temporal, oldest first.
func (s *Store) UndispatchedNotices(ctx context.Context, limit int) ([]ChannelNotice, error) {
	out := []ChannelNotice{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+channelNoticeColumns+` FROM channel_notices
		WHERE dispatched_at IS NULL ORDER BY created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing undispatched notices: %w", translate(err))
	}
	return out, nil
}

// MarkNoticeDispatched records that Temporal has the notice.
func (s *Store) MarkNoticeDispatched(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.ExecContext(ctx, `UPDATE channel_notices SET dispatched_at = now() WHERE id = $1 AND dispatched_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("marking a notice dispatched: %w", translate(err))
	}
	return nil
}

// Notices returns the notices of ids (those still there), oldest first.
func (s *Store) Notices(ctx context.Context, ids []uuid.UUID) ([]ChannelNotice, error) {
	out := []ChannelNotice{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+channelNoticeColumns+` FROM channel_notices
		WHERE id = ANY($1) ORDER BY created_at, id`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("reading notices: %w", translate(err))
	}
	return out, nil
}

// RecordNoticeAttempt counts an attempt to send ids through the channel
// at at: sent (sendErr nil) or why not, on the notices and as the
// channel's last result, in one statement (a reader never sees one
// without the other).
func (s *Store) RecordNoticeAttempt(ctx context.Context, channelID uuid.UUID, ids []uuid.UUID, at time.Time, sendErr error) error {
	msg := ""
	if sendErr != nil {
		msg = sendErr.Error()
	}
	_, err := s.db.ExecContext(ctx, `
		WITH notices AS (
			UPDATE channel_notices SET attempts = attempts + 1, last_error = $3,
				sent_at = CASE WHEN $4 THEN now() ELSE sent_at END
			WHERE id = ANY($2)
		)
		UPDATE notification_channels SET last_sent_at = $5, last_ok = $4, last_error = $3 WHERE id = $1`,
		channelID, pq.Array(ids), msg, sendErr == nil, at)
	if err != nil {
		return fmt.Errorf("recording a notice attempt: %w", translate(err))
	}
	return nil
}

// ChannelWithNotices returns the account's channel and its latest notices
// (its log, newest first) as of one moment: a send recorded meanwhile
// (RecordNoticeAttempt) shows in both or in neither, so the channel's last
// result always agrees with its notices' attempts.
func (s *Store) ChannelWithNotices(ctx context.Context, accountID, id uuid.UUID, limit int) (Channel, []ChannelNotice, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return Channel{}, nil, fmt.Errorf("beginning transaction: %w", translate(err))
	}
	defer tx.Rollback() // read-only: nothing to undo, and its error says nothing
	c, err := channelIn(ctx, tx, accountID, id)
	if err != nil {
		return Channel{}, nil, err
	}
	out := []ChannelNotice{}
	if err := tx.SelectContext(ctx, &out, `SELECT `+channelNoticeColumns+` FROM channel_notices
		WHERE channel_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, id, limit); err != nil {
		return Channel{}, nil, fmt.Errorf("listing a channel's notices: %w", translate(err))
	}
	return c, out, nil
}

// ChannelByID returns a channel whatever its account (the notice
// workflow's, which has only the id).
func (s *Store) ChannelByID(ctx context.Context, id uuid.UUID) (Channel, error) {
	var c Channel
	if err := s.db.GetContext(ctx, &c, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, id); err != nil {
		return Channel{}, fmt.Errorf("getting channel: %w", translate(err))
	}
	return c, nil
}

// Open opens the channel's sealed URL and secret with open (a
// secretbox's); "" where there is none.
func (c Channel) Open(open func(enc, aad []byte) ([]byte, error)) (rawURL, secret string, err error) {
	if c.URLEnc != nil {
		u, err := open(c.URLEnc, ChannelURLAAD(c.ID))
		if err != nil {
			return "", "", fmt.Errorf("opening a channel's url: %w", err)
		}
		rawURL = string(u)
	}
	if c.SecretEnc != nil {
		sec, err := open(c.SecretEnc, ChannelSecretAAD(c.ID))
		if err != nil {
			return "", "", fmt.Errorf("opening a channel's secret: %w", err)
		}
		secret = string(sec)
	}
	return rawURL, secret, nil
}
