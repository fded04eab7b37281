package service

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// PageQuery is how much of a list to show, and where to start: Limit 1-100
// (DefaultLimit when 0); Cursor is a Page's Next, opaque to clients.
type PageQuery struct {
	Limit  int
	Cursor string
}

// DefaultLimit is the size of a page when the caller does not say.
const DefaultLimit = 20

// Page is one page of a list, newest first; Next starts the page after it
// ("" on the last page).
type Page[T any] struct {
	Items []T
	Next  string
}

// read checks q and gives the limit to fetch (one more than shown: the
// extra row only says that there is a next page) and where to start.
func (q PageQuery) read() (int, *db.Cursor, error) {
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > 100 {
		return 0, nil, invalid("limit", "must be a whole number from 1 to 100")
	}
	if q.Cursor == "" {
		return limit, nil, nil
	}
	cur, ok := decodeCursor(q.Cursor)
	if !ok {
		return 0, nil, invalid("cursor", "is not a cursor this API returned")
	}
	return limit, &cur, nil
}

// pageOf turns rows fetched with a limit of limit+1 into a page, which
// ends after the last row shown.
func pageOf[T any](rows []T, limit int, key func(T) (time.Time, uuid.UUID)) Page[T] {
	if len(rows) <= limit {
		return Page[T]{Items: rows}
	}
	return Page[T]{Items: rows[:limit], Next: encodeCursor(key(rows[limit-1]))}
}

// Cursors are base64 of "unixnano:uuid" of the last row shown.
func encodeCursor(t time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id.String()))
}

func decodeCursor(s string) (db.Cursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return db.Cursor{}, false
	}
	ts, idStr, ok := strings.Cut(string(raw), ":")
	if !ok {
		return db.Cursor{}, false
	}
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return db.Cursor{}, false
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return db.Cursor{}, false
	}
	return db.Cursor{CreatedAt: time.Unix(0, nanos), ID: id}, true
}
