package db

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// The delivery log's lists and searches. Each filter is served by an index
// that starts with the account and ends with (created_at, id), so a page
// newest first reads the index in order and stops at the limit; a time
// range also names the partitions to read (migration 00015).
// search_test.go shows the plan of each filter.

// DeliveryFilter narrows ListDeliveries; zero fields match anything.
type DeliveryFilter struct {
	EventID       string
	WebhookID     *uuid.UUID
	Status        delivery.Status
	EventType     string
	TriggerSource string
	// OrderingKey and EnvelopeID select the deliveries of the events of
	// that ordering key, or whose declared search key (data.envelopeId)
	// has that value.
	OrderingKey string
	EnvelopeID  string
	// HTTPStatusMin and HTTPStatusMax bound the status code of the last
	// answer (inclusive); 0 and 0: any.
	HTTPStatusMin, HTTPStatusMax int
	// CreatedFrom and CreatedTo bound created_at (inclusive, exclusive).
	CreatedFrom *time.Time
	CreatedTo   *time.Time
	After       *Cursor
	Limit       int
	// Oldest lists oldest first (replaying in event order); no cursor.
	Oldest bool
}

// conds collects the conditions and inputs of a search; $1 is the account.
type conds struct {
	where []string
	args  []any
}

// add appends cond, whose %d are each the next input, of vs in order.
func (c *conds) add(cond string, vs ...any) {
	ns := make([]any, len(vs))
	for i, v := range vs {
		c.args = append(c.args, v)
		ns[i] = len(c.args)
	}
	c.where = append(c.where, fmt.Sprintf(cond, ns...))
}

// timeRange adds the bounds of column col: from, to and, for a page after
// cursor at, at (its row comparison does not prune partitions alone).
func (c *conds) timeRange(col string, from, to, at *time.Time) {
	if from != nil {
		c.add(col+" >= $%d", *from)
	}
	if to != nil {
		c.add(col+" < $%d", *to)
	}
	if at != nil {
		c.add(col+" <= $%d", *at)
	}
}

func (c *conds) sql() string { return strings.Join(c.where, " AND ") }

// ListDeliveries returns the account's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, accountID uuid.UUID, f DeliveryFilter) ([]Delivery, error) {
	q, args := deliveriesQuery(accountID, f)
	out := []Delivery{}
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("listing deliveries: %w", translate(err))
	}
	if f.Oldest {
		inKeyOrder(out)
	}
	return out, nil
}

// inKeyOrder puts each ordering key's deliveries in sequence order within the
// places they hold: rows are made by concurrent workflows, so created_at can
// put event 2 of a key before event 1, and a replay in that order would let
// 2 take its turn before 1 is pending again.
func inKeyOrder(ds []Delivery) {
	places := map[string][]int{}
	for i, d := range ds {
		if d.OrderingKey != "" {
			places[d.OrderingKey] = append(places[d.OrderingKey], i)
		}
	}
	for _, at := range places {
		keyed := make([]Delivery, len(at))
		for j, i := range at {
			keyed[j] = ds[i]
		}
		sort.SliceStable(keyed, func(a, b int) bool { return keyed[a].Sequence < keyed[b].Sequence })
		for j, i := range at {
			ds[i] = keyed[j]
		}
	}
}

// deliveriesQuery is ListDeliveries' query. A filter on the event's
// ordering key or search key joins the events: the key's events (few)
// first, then their deliveries (which share each event's created_at).
func deliveriesQuery(accountID uuid.UUID, f DeliveryFilter) (string, []any) {
	c := &conds{}
	c.add("d.account_id = $%d", accountID)
	if f.EventID != "" {
		c.add("d.event_id = $%d", f.EventID)
	}
	if f.WebhookID != nil {
		c.add("d.webhook_id = $%d", *f.WebhookID)
	}
	switch f.Status {
	case "":
	case delivery.Waiting: // pending, and waiting for its turn
		c.add("d.status = $%d AND (d.waiting_for_event IS NOT NULL OR d.waiting_for_delivery IS NOT NULL)", delivery.Pending)
	default:
		c.add("d.status = $%d", f.Status)
	}
	if f.HTTPStatusMin > 0 {
		c.add("d.last_status_code BETWEEN $%d AND $%d", f.HTTPStatusMin, f.HTTPStatusMax)
	}
	if f.EventType != "" {
		c.add("d.event_type = $%d", f.EventType)
	}
	if f.TriggerSource != "" {
		c.add("d.trigger_source = $%d", f.TriggerSource)
	}
	var at *time.Time
	if f.After != nil {
		at = &f.After.CreatedAt
	}
	c.timeRange("d.created_at", f.CreatedFrom, f.CreatedTo, at)
	from, orderBy := "deliveries d", "d.created_at"
	if e := (eventFilter{OrderingKey: f.OrderingKey, EnvelopeID: f.EnvelopeID}); e != (eventFilter{}) {
		// The key's events by their index, newest first, then each one's
		// deliveries: a plain join let the planner read every delivery
		// of a webhook and hash them (142 ms for 5 rows on bench-log's
		// log; 4 ms this way). OFFSET 0 keeps the subquery from being
		// flattened back into that join; the order is the events' (the
		// deliveries share each event's created_at), so a page stops early.
		from = `events e CROSS JOIN LATERAL (SELECT * FROM deliveries d WHERE d.account_id = e.account_id
			AND d.event_id = e.id AND d.created_at = e.created_at OFFSET 0) d`
		orderBy = "e.created_at"
		c.add("e.account_id = $%d", accountID)
		e.add(c, "e.")
		// The same range on the events, so both sides read only its partitions.
		c.timeRange("e.created_at", f.CreatedFrom, f.CreatedTo, at)
	}
	if f.After != nil {
		c.add("(d.created_at, d.id) < ($%d, $%d)", f.After.CreatedAt, f.After.ID)
	}
	order := "DESC"
	if f.Oldest {
		order = "ASC"
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := `SELECT ` + prefixed("d.", deliveryColumns) + ` FROM ` + from + ` WHERE ` + c.sql() +
		fmt.Sprintf(" ORDER BY %[3]s %[1]s, d.id %[1]s LIMIT %[2]d", order, f.Limit, orderBy)
	return q, c.args
}

// eventFilter is what a search asks of the events; zero fields match any.
type eventFilter struct {
	Type, TriggerSource, OrderingKey, EnvelopeID string
}

// add adds f's conditions on the events (columns prefixed p) to c. The
// ordering and search keys' indexes hold only events that have one.
func (f eventFilter) add(c *conds, p string) {
	for _, kv := range [][2]string{{"type", f.Type}, {"trigger_source", f.TriggerSource}} {
		if kv[1] != "" {
			c.add(p+kv[0]+" = $%d", kv[1])
		}
	}
	for _, kv := range [][2]string{{"ordering_key", f.OrderingKey}, {"search_key", f.EnvelopeID}} {
		if kv[1] != "" {
			c.add(p+kv[0]+" = $%d AND "+p+kv[0]+" <> ''", kv[1])
		}
	}
}

// EventCursor marks a position in the newest-first list of events.
type EventCursor struct {
	CreatedAt time.Time
	ID        string
}

// EventFilter narrows ListEvents; zero fields match anything.
type EventFilter struct {
	ID            string
	Type          string
	TriggerSource string
	OrderingKey   string
	EnvelopeID    string // the value of the type's declared search key
	// CreatedFrom and CreatedTo bound created_at (inclusive, exclusive).
	CreatedFrom *time.Time
	CreatedTo   *time.Time
	After       *EventCursor
	Limit       int
}

// ListEvents returns the account's events, newest first.
func (s *Store) ListEvents(ctx context.Context, accountID uuid.UUID, f EventFilter) ([]Event, error) {
	q, args := eventsQuery(accountID, f)
	out := []Event{}
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("listing events: %w", translate(err))
	}
	return out, nil
}

// eventsQuery is ListEvents' query.
func eventsQuery(accountID uuid.UUID, f EventFilter) (string, []any) {
	c := &conds{}
	c.add("account_id = $%d", accountID)
	if f.ID != "" {
		c.add("id = $%d", f.ID)
	}
	eventFilter{Type: f.Type, TriggerSource: f.TriggerSource, OrderingKey: f.OrderingKey, EnvelopeID: f.EnvelopeID}.add(c, "")
	var at *time.Time
	if f.After != nil {
		at = &f.After.CreatedAt
	}
	c.timeRange("created_at", f.CreatedFrom, f.CreatedTo, at)
	if f.After != nil {
		c.add("(created_at, id) < ($%d, $%d)", f.After.CreatedAt, f.After.ID)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE ` + c.sql() +
		fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", f.Limit)
	return q, c.args
}

// SearchPlan is how PostgreSQL ran a search (EXPLAIN ANALYZE): for the
// tests that hold each filter to its index, and the log bench's report.
type SearchPlan struct {
	Text string // as EXPLAIN prints it
	// Scans are the plan's scans that ran, an index scan's Index named as
	// the partitioned table's index (a partition's own has a made-up name;
	// a partition-only index keeps its own).
	Scans []Scan
}

// Scan is one scan of a plan.
type Scan struct {
	Type     string // e.g. "Index Scan"
	Relation string // a partition's name
	Index    string
	Pages    int // the relation's size in pages, as last analyzed (a scan of an empty one costs nothing)
}

// ExplainDeliveries runs ListDeliveries' query under EXPLAIN ANALYZE.
func (s *Store) ExplainDeliveries(ctx context.Context, accountID uuid.UUID, f DeliveryFilter) (SearchPlan, error) {
	q, args := deliveriesQuery(accountID, f)
	return s.explain(ctx, q, args)
}

// ExplainEvents runs ListEvents' query under EXPLAIN ANALYZE.
func (s *Store) ExplainEvents(ctx context.Context, accountID uuid.UUID, f EventFilter) (SearchPlan, error) {
	q, args := eventsQuery(accountID, f)
	return s.explain(ctx, q, args)
}

func (s *Store) explain(ctx context.Context, q string, args []any) (SearchPlan, error) {
	var p SearchPlan
	var lines []string
	if err := s.db.SelectContext(ctx, &lines, `EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) `+q, args...); err != nil {
		return p, fmt.Errorf("explaining: %w", translate(err))
	}
	p.Text = strings.Join(lines, "\n")
	var raw []byte
	if err := s.db.GetContext(ctx, &raw, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) `+q, args...); err != nil {
		return p, fmt.Errorf("explaining: %w", translate(err))
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		return p, fmt.Errorf("reading the plan: %v", err)
	}
	plans[0].Plan.scans(&p.Scans)
	for i, sc := range p.Scans {
		if sc.Relation != "" {
			if err := s.db.GetContext(ctx, &p.Scans[i].Pages, `SELECT relpages FROM pg_class WHERE relname = $1`,
				sc.Relation); err != nil {
				return p, fmt.Errorf("sizing %s: %w", sc.Relation, translate(err))
			}
		}
		if sc.Index == "" {
			continue
		}
		// The partitioned index this partition's index belongs to.
		err := s.db.GetContext(ctx, &p.Scans[i].Index, `
			SELECT coalesce((SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
			                 WHERE i.inhrelid = c.oid), c.relname)
			FROM pg_class c WHERE c.relname = $1`, sc.Index)
		if err != nil {
			return p, fmt.Errorf("naming index %s: %w", sc.Index, translate(err))
		}
	}
	return p, nil
}

// planNode is a node of EXPLAIN's JSON.
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Loops    int        `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

// scans appends the scans below n that ran.
func (n planNode) scans(out *[]Scan) {
	if (n.Relation != "" || n.Index != "") && n.Loops > 0 {
		*out = append(*out, Scan{Type: n.Type, Relation: n.Relation, Index: n.Index})
	}
	for _, c := range n.Plans {
		c.scans(out)
	}
}

// prefixed qualifies each column of a column list with p.
func prefixed(p, columns string) string {
	cols := strings.Split(columns, ",")
	for i, col := range cols {
		cols[i] = p + strings.TrimSpace(col)
	}
	return strings.Join(cols, ", ")
}
