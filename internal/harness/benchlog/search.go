package benchlog

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// probe is a delivery drawn at random from the log, with its event: where
// a search looks, so searches fall on accounts as traffic does (the largest
// most often) and find what they look for.
type probe struct {
	AccountID   uuid.UUID `db:"account_id"`
	WebhookID   uuid.UUID `db:"webhook_id"`
	EventID     string    `db:"event_id"`
	EventType   string    `db:"event_type"`
	OrderingKey string    `db:"ordering_key"`
	EnvelopeID  string    `db:"search_key"`
	CreatedAt   time.Time `db:"created_at"`
}

// probes draws n deliveries (a repeatable sample) of the ones older than a
// day, and n of those with an ordering key.
func probes(ctx context.Context, store *db.Store, n int, total int64) (all, keyed []probe, err error) {
	pct := min(100, 300*float64(n)/float64(max(total, 1)))
	q := fmt.Sprintf(`
		SELECT d.account_id, d.webhook_id, d.event_id, d.event_type, e.ordering_key, e.search_key, d.created_at
		FROM deliveries d TABLESAMPLE BERNOULLI (%g) REPEATABLE (7)
		JOIN events e ON e.account_id = d.account_id AND e.id = d.event_id AND e.created_at = d.created_at
		WHERE %%s ORDER BY d.id LIMIT %d`, pct, n)
	if err := store.DB().SelectContext(ctx, &all, fmt.Sprintf(q, "true")); err != nil {
		return nil, nil, fmt.Errorf("drawing probes: %w", err)
	}
	if err := store.DB().SelectContext(ctx, &keyed, fmt.Sprintf(q, "e.ordering_key <> ''")); err != nil {
		return nil, nil, fmt.Errorf("drawing probes: %w", err)
	}
	if len(all) == 0 || len(keyed) == 0 {
		return nil, nil, fmt.Errorf("drew %d and %d probes: is the log empty?", len(all), len(keyed))
	}
	return all, keyed, nil
}

// search is one search the API offers, as its store query.
type search struct {
	Name string
	// Want are the indexes its plan may read (path.Match patterns): the
	// one made for it, and for a value common in an account, the
	// account's newest-first index (reading it, the page fills at once).
	Want []string
	// Need is the index its plan must read ("" when Want's fallback may do).
	Need   string
	Keyed  bool // needs a probe with an ordering key
	Ranged bool // has a time range: reads only the partitions it covers
	// One of the two makes the query from a probe.
	Deliveries func(p probe, end time.Time) db.DeliveryFilter
	Events     func(p probe, end time.Time) db.EventFilter
}

// day is the UTC day of t, as a time range.
func day(t time.Time) (*time.Time, *time.Time) {
	from := t.UTC().Truncate(24 * time.Hour)
	to := from.Add(24 * time.Hour)
	return &from, &to
}

func ptr[T any](v T) *T { return &v }

// byEvent are the indexes that find an event's deliveries: by its id, or
// by its created_at (which its deliveries share) in the account's
// newest-first index, almost as unique.
var byEvent = []string{"deliveries_event_webhook_key", "deliveries_account_created_idx", "deliveries_webhook_idx"}

// searches are the filters of GET /v1/deliveries and GET /v1/events.
var searches = []search{
	{Name: "deliveries: newest page", Want: []string{"deliveries_account_created_idx"}, Need: "deliveries_account_created_idx",
		Deliveries: func(probe, time.Time) db.DeliveryFilter { return db.DeliveryFilter{} }},
	{Name: "deliveries: from/to, the last 24 hours", Ranged: true, Want: []string{"deliveries_account_created_idx"},
		Deliveries: func(_ probe, end time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{CreatedFrom: ptr(end.Add(-24 * time.Hour)), CreatedTo: &end}
		}},
	{Name: "deliveries: from/to, one day in the past", Ranged: true, Want: []string{"deliveries_account_created_idx"},
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter {
			from, to := day(p.CreatedAt)
			return db.DeliveryFilter{CreatedFrom: from, CreatedTo: to}
		}},
	{Name: "deliveries: webhookId", Want: []string{"deliveries_webhook_idx", "deliveries_account_created_idx"},
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter { return db.DeliveryFilter{WebhookID: &p.WebhookID} }},
	{Name: "deliveries: status=failed", Want: []string{"deliveries_status_idx", "deliveries_account_created_idx"},
		Deliveries: func(probe, time.Time) db.DeliveryFilter { return db.DeliveryFilter{Status: delivery.Failed} }},
	{Name: "deliveries: status=failed, last 7 days", Ranged: true,
		Want: []string{"deliveries_status_idx", "deliveries_account_created_idx"},
		Deliveries: func(_ probe, end time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{Status: delivery.Failed, CreatedFrom: ptr(end.AddDate(0, 0, -7)), CreatedTo: &end}
		}},
	{Name: "deliveries: httpStatus=404", Want: []string{"deliveries_http_status_idx", "deliveries_account_created_idx"},
		Deliveries: func(probe, time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{HTTPStatusMin: 404, HTTPStatusMax: 404}
		}},
	{Name: "deliveries: httpStatus=5xx", Want: []string{"deliveries_http_status_idx", "deliveries_account_created_idx"},
		Deliveries: func(probe, time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{HTTPStatusMin: 500, HTTPStatusMax: 599}
		}},
	{Name: "deliveries: eventType", Want: []string{"deliveries_event_type_idx", "deliveries_account_created_idx"},
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter { return db.DeliveryFilter{EventType: p.EventType} }},
	{Name: "deliveries: eventType=SIGNER_DECLINED", Want: []string{"deliveries_event_type_idx", "deliveries_account_created_idx"},
		Deliveries: func(probe, time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{EventType: events.SignerDeclined}
		}},
	{Name: "deliveries: triggerSource=third_party_app", Want: []string{"deliveries_source_idx", "deliveries_account_created_idx"},
		Deliveries: func(probe, time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{TriggerSource: events.SourceThirdPartyApp}
		}},
	{Name: "deliveries: eventId", Want: []string{"deliveries_event_webhook_key"}, Need: "deliveries_event_webhook_key",
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter { return db.DeliveryFilter{EventID: p.EventID} }},
	{Name: "deliveries: orderingKey", Keyed: true, Want: append([]string{"events_ordering_key_idx"}, byEvent...),
		Need:       "events_ordering_key_idx",
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter { return db.DeliveryFilter{OrderingKey: p.OrderingKey} }},
	{Name: "deliveries: envelopeId", Want: append([]string{"events_search_key_idx"}, byEvent...),
		Need:       "events_search_key_idx",
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter { return db.DeliveryFilter{EnvelopeID: p.EnvelopeID} }},
	{Name: "deliveries: envelopeId and webhookId", Want: append([]string{"events_search_key_idx"}, byEvent...),
		Need: "events_search_key_idx",
		Deliveries: func(p probe, _ time.Time) db.DeliveryFilter {
			return db.DeliveryFilter{EnvelopeID: p.EnvelopeID, WebhookID: &p.WebhookID}
		}},
	{Name: "events: newest page", Want: []string{"events_account_created_idx"}, Need: "events_account_created_idx",
		Events: func(probe, time.Time) db.EventFilter { return db.EventFilter{} }},
	{Name: "events: from/to, one day in the past", Ranged: true, Want: []string{"events_account_created_idx"},
		Events: func(p probe, _ time.Time) db.EventFilter {
			from, to := day(p.CreatedAt)
			return db.EventFilter{CreatedFrom: from, CreatedTo: to}
		}},
	{Name: "events: eventId", Want: []string{"events_p*_id"}, Need: "events_p*_id",
		Events: func(p probe, _ time.Time) db.EventFilter { return db.EventFilter{ID: p.EventID} }},
	{Name: "events: eventType", Want: []string{"events_type_idx", "events_account_created_idx"},
		Events: func(p probe, _ time.Time) db.EventFilter { return db.EventFilter{Type: p.EventType} }},
	{Name: "events: triggerSource=third_party_app", Want: []string{"events_source_idx", "events_account_created_idx"},
		Events: func(probe, time.Time) db.EventFilter {
			return db.EventFilter{TriggerSource: events.SourceThirdPartyApp}
		}},
	{Name: "events: orderingKey", Keyed: true, Want: []string{"events_ordering_key_idx"}, Need: "events_ordering_key_idx",
		Events: func(p probe, _ time.Time) db.EventFilter { return db.EventFilter{OrderingKey: p.OrderingKey} }},
	{Name: "events: envelopeId", Want: []string{"events_search_key_idx"}, Need: "events_search_key_idx",
		Events: func(p probe, _ time.Time) db.EventFilter { return db.EventFilter{EnvelopeID: p.EnvelopeID} }},
}

// seqScanPages is the size (8 KB pages) past which a partition read whole
// is a problem: smaller ones (an empty new partition, a small log's) are
// cheaper to read whole, and PostgreSQL rightly does.
const seqScanPages = 1280 // 10 MB

// pageSize is what the API fetches for its default page: 20 and one more.
const pageSize = 21

// SearchResult is one search's measurements.
type SearchResult struct {
	Name    string  `json:"name"`
	Queries int     `json:"queries"`
	P50MS   float64 `json:"p50Ms"`
	P99MS   float64 `json:"p99Ms"`
	MaxMS   float64 `json:"maxMs"`
	// MeanRows is the mean page length (up to 21).
	MeanRows float64 `json:"meanRows"`
	// Indexes are the (partitioned) indexes the explained queries read;
	// Partitions the most partitions one of them read, of PartitionsAll.
	Indexes       []string `json:"indexes"`
	Partitions    int      `json:"partitionsRead"`
	PartitionsAll int      `json:"partitionsAll"`
	// Problems says where a plan strayed: an index not in the search's
	// Want, a sequential scan, a partition outside its time range.
	Problems []string `json:"problems,omitempty"`
	Plan     string   `json:"plan"` // the first explained query's
}

// runSearches times each search queries times (each on the next probe)
// and explains it on the first explain probes.
func runSearches(ctx context.Context, store *db.Store, all, keyed []probe, end time.Time, queries, explain int,
	logf func(string, ...any)) ([]SearchResult, error) {
	parts, err := store.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []SearchResult
	for _, s := range searches {
		ps := all
		if s.Keyed {
			ps = keyed
		}
		r := SearchResult{Name: s.Name, Queries: queries, PartitionsAll: len(parts) / 3}
		times := make([]float64, 0, queries)
		var rows int
		for i := range queries {
			p := ps[i%len(ps)]
			began := time.Now()
			n, err := s.run(ctx, store, p, end)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			times = append(times, float64(time.Since(began).Microseconds())/1000)
			rows += n
		}
		for i := range min(explain, len(ps)) {
			if err := s.explain(ctx, store, ps[i], end, parts, &r); err != nil {
				return nil, fmt.Errorf("explaining %s: %w", s.Name, err)
			}
		}
		sort.Float64s(times)
		r.P50MS, r.P99MS, r.MaxMS = quantile(times, 0.5), quantile(times, 0.99), times[len(times)-1]
		r.MeanRows = float64(rows) / float64(queries)
		logf("%-45s p50 %7.2f ms  p99 %7.2f ms  rows %4.1f  %v", s.Name, r.P50MS, r.P99MS, r.MeanRows, r.Indexes)
		out = append(out, r)
	}
	return out, nil
}

func quantile(sorted []float64, q float64) float64 {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// run makes the search for p, a page of pageSize; it returns its length.
func (s search) run(ctx context.Context, store *db.Store, p probe, end time.Time) (int, error) {
	if s.Deliveries != nil {
		f := s.Deliveries(p, end)
		f.Limit = pageSize
		ds, err := store.ListDeliveries(ctx, p.AccountID, f)
		return len(ds), err
	}
	f := s.Events(p, end)
	f.Limit = pageSize
	es, err := store.ListEvents(ctx, p.AccountID, f)
	return len(es), err
}

// explain runs the search for p under EXPLAIN ANALYZE and notes in r what
// it read and what strayed from s's Want.
func (s search) explain(ctx context.Context, store *db.Store, p probe, end time.Time, parts []db.Partition, r *SearchResult) error {
	var plan db.SearchPlan
	var err error
	var from, to *time.Time
	if s.Deliveries != nil {
		f := s.Deliveries(p, end)
		f.Limit = pageSize
		from, to = f.CreatedFrom, f.CreatedTo
		plan, err = store.ExplainDeliveries(ctx, p.AccountID, f)
	} else {
		f := s.Events(p, end)
		f.Limit = pageSize
		from, to = f.CreatedFrom, f.CreatedTo
		plan, err = store.ExplainEvents(ctx, p.AccountID, f)
	}
	if err != nil {
		return err
	}
	if r.Plan == "" {
		r.Plan = plan.Text
	}
	read := map[string]bool{}
	for _, sc := range plan.Scans {
		if sc.Relation != "" {
			read[sc.Relation] = true
		}
		if sc.Type == "Seq Scan" && sc.Pages > seqScanPages {
			r.Problems = append(r.Problems, "a sequential scan of "+sc.Relation)
		}
		if sc.Index == "" {
			continue
		}
		if !slices.Contains(r.Indexes, sc.Index) {
			r.Indexes = append(r.Indexes, sc.Index)
		}
		if !slices.ContainsFunc(s.Want, func(w string) bool { ok, _ := path.Match(w, sc.Index); return ok }) {
			r.Problems = append(r.Problems, "read index "+sc.Index+", not one of "+fmt.Sprint(s.Want))
		}
	}
	if len(plan.Scans) == 0 {
		r.Problems = append(r.Problems, "read nothing")
	}
	if s.Need != "" && !slices.ContainsFunc(plan.Scans, func(sc db.Scan) bool { ok, _ := path.Match(s.Need, sc.Index); return ok }) {
		r.Problems = append(r.Problems, "did not read "+s.Need)
	}
	periods := map[string]bool{}
	for rel := range read {
		for _, pt := range parts {
			if pt.Name != rel {
				continue
			}
			periods[pt.Lower.String()] = true
			if s.Ranged && ((to != nil && !pt.Lower.Before(*to)) || (from != nil && !pt.Upper.After(*from))) {
				r.Problems = append(r.Problems, fmt.Sprintf("read %s, outside [%v, %v)", rel, from, to))
			}
		}
	}
	r.Partitions = max(r.Partitions, len(periods))
	return nil
}
