package api

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// Cursors are opaque to clients: base64 of "unixnano:uuid" of the last row.
func encodeCursor(t time.Time, id uuid.UUID) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id.String()))
	return &s
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

// pageOf turns rows fetched with a limit of limit+1 into a page: the extra
// row only says that there is a next page, which starts after the last row
// shown.
func pageOf[R, T any](rows []R, limit int, show func(R) T, key func(R) (time.Time, uuid.UUID)) resource.Page[T] {
	out := resource.Page[T]{Data: make([]T, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.NextCursor = encodeCursor(key(rows[i-1]))
			break
		}
		out.Data = append(out.Data, show(r))
	}
	return out
}
