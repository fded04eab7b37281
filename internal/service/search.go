package service

import (
	"context"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// LogSearch is what the delivery log and the event list are searched by,
// as the API's query parameters give it ("" for any). The field names of
// its errors are those parameters'.
type LogSearch struct {
	From, To      string // RFC 3339; created at or after From, before To
	EventID       string
	EventType     string
	TriggerSource string
	OrderingKey   string
	EnvelopeID    string // the value of the event type's search key (events.TypeInfo.SearchKey)
}

// DeliveryQuery lists deliveries: of one webhook (a webhook id), in one
// status, whose last answer had an HTTP status (a code, 404, or a class,
// 4xx), and as LogSearch; "" for any.
type DeliveryQuery struct {
	PageQuery
	LogSearch
	WebhookID  string
	Status     string
	HTTPStatus string
}

// EventQuery lists events as LogSearch says.
type EventQuery struct {
	PageQuery
	LogSearch
}

// logFilter is a LogSearch read and checked.
type logFilter struct {
	from, to *time.Time
	LogSearch
}

// read checks q into bad (field → problem).
func (q LogSearch) read(bad map[string]string) logFilter {
	f := logFilter{LogSearch: q}
	f.from = readTime(q.From, "from", bad)
	f.to = readTime(q.To, "to", bad)
	if f.from != nil && f.to != nil && !f.to.After(*f.from) {
		bad["to"] = "must be after from"
	}
	if q.EventID != "" && !events.ValidID(q.EventID) {
		bad["eventId"] = "must be an event id: 1-200 characters of letters, digits, '.', '_', ':' or '-'"
	}
	if q.EventType != "" && !events.IsSubscribable(q.EventType) && q.EventType != events.WebhookTest {
		bad["eventType"] = "unknown event type " + q.EventType
	}
	if q.TriggerSource != "" && !events.IsTriggerSource(q.TriggerSource) && q.TriggerSource != events.SourceSystem {
		bad["triggerSource"] = "must be one of: saas_page, third_party_app, system"
	}
	if !searchText(q.OrderingKey, events.MaxOrderingKeyBytes) {
		bad["orderingKey"] = "must be UTF-8 text without control characters, at most 200 bytes"
	}
	if !searchText(q.EnvelopeID, 4*events.MaxSearchKeyChars) {
		bad["envelopeId"] = "must be UTF-8 text without control characters"
	}
	// A longer value is stored cut (events.MaxSearchKeyChars): found so.
	if r := []rune(q.EnvelopeID); len(r) > events.MaxSearchKeyChars {
		f.EnvelopeID = string(r[:events.MaxSearchKeyChars])
	}
	return f
}

// readTime reads an RFC 3339 time into bad's field name when it is not one.
func readTime(s, field string, bad map[string]string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		bad[field] = "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"
		return nil
	}
	return &t
}

// searchText reports whether s may be searched for: UTF-8 without control
// characters (PostgreSQL refuses NUL and invalid UTF-8), at most max bytes.
func searchText(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// httpStatus reads a status code (404) or class (4xx) as a code range.
var httpStatus = regexp.MustCompile(`^([1-5])([0-9][0-9]|[xX][xX])$`)

func readHTTPStatus(s string, bad map[string]string) (lo, hi int) {
	if s == "" {
		return 0, 0
	}
	m := httpStatus.FindStringSubmatch(s)
	if m == nil {
		bad["httpStatus"] = "must be a status code from 100 to 599 (e.g. 404) or a class (e.g. 4xx)"
		return 0, 0
	}
	if strings.EqualFold(m[2], "xx") {
		class, _ := strconv.Atoi(m[1])
		return class * 100, class*100 + 99
	}
	code, _ := strconv.Atoi(s)
	return code, code
}

// ListDeliveries is the caller's delivery log, newest first.
func (s *Service) ListDeliveries(ctx context.Context, c Caller, q DeliveryQuery) (Page[db.Delivery], error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return Page[db.Delivery]{}, err
	}
	limit, after, err := q.PageQuery.read()
	if err != nil {
		return Page[db.Delivery]{}, err
	}
	bad := map[string]string{}
	lf := q.LogSearch.read(bad)
	f := db.DeliveryFilter{Limit: limit + 1, After: after, Status: delivery.Status(q.Status), EventType: lf.EventType,
		EventID: lf.EventID, TriggerSource: lf.TriggerSource, OrderingKey: lf.OrderingKey, EnvelopeID: lf.EnvelopeID,
		CreatedFrom: lf.from, CreatedTo: lf.to}
	f.HTTPStatusMin, f.HTTPStatusMax = readHTTPStatus(q.HTTPStatus, bad)
	if q.WebhookID != "" {
		id, err := uuid.Parse(q.WebhookID)
		if err != nil {
			bad["webhookId"] = "must be a webhook id"
		}
		f.WebhookID = &id
	}
	if f.Status != "" && !f.Status.Valid() {
		bad["status"] = "must be one of: waiting, pending, retrying, succeeded, failed, cancelled, skipped_disabled"
	}
	if len(bad) > 0 {
		return Page[db.Delivery]{}, invalidFields(bad)
	}
	ds, err := s.store.ListDeliveries(ctx, c.AccountID, f)
	if err != nil {
		return Page[db.Delivery]{}, err
	}
	return pageOf(ds, limit, func(d db.Delivery) (time.Time, uuid.UUID) { return d.CreatedAt, d.ID }), nil
}

// ListEvents lists the caller's events, newest first.
func (s *Service) ListEvents(ctx context.Context, c Caller, q EventQuery) (Page[db.Event], error) {
	if err := Authorize(c, ReadEventLog); err != nil {
		return Page[db.Event]{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	bad := map[string]string{}
	if limit < 1 || limit > 100 {
		bad["limit"] = "must be a whole number from 1 to 100"
	}
	var after *db.EventCursor
	if q.Cursor != "" {
		cur, ok := decodeEventCursor(q.Cursor)
		if !ok {
			bad["cursor"] = "is not a cursor this API returned"
		}
		after = &cur
	}
	lf := q.LogSearch.read(bad)
	if len(bad) > 0 {
		return Page[db.Event]{}, invalidFields(bad)
	}
	es, err := s.store.ListEvents(ctx, c.AccountID, db.EventFilter{ID: lf.EventID, Type: lf.EventType,
		TriggerSource: lf.TriggerSource, OrderingKey: lf.OrderingKey, EnvelopeID: lf.EnvelopeID,
		CreatedFrom: lf.from, CreatedTo: lf.to, After: after, Limit: limit + 1})
	if err != nil {
		return Page[db.Event]{}, err
	}
	if len(es) <= limit {
		return Page[db.Event]{Items: es}, nil
	}
	last := es[limit-1]
	return Page[db.Event]{Items: es[:limit], Next: encodeEventCursor(last.CreatedAt, last.ID)}, nil
}

// Event cursors are base64 of "unixnano:event id" of the last event shown.
func encodeEventCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id))
}

func decodeEventCursor(s string) (db.EventCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return db.EventCursor{}, false
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || !events.ValidID(id) {
		return db.EventCursor{}, false
	}
	return db.EventCursor{CreatedAt: time.Unix(0, nanos), ID: id}, true
}
