package api_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// answered plays a delivery's attempts as the worker records them: each
// answer is a status (0: none) and a latency; the last decides the
// delivery (a 2xx succeeds it, anything else fails it).
func (e *env) answered(d db.Delivery, answers ...[2]int) {
	e.t.Helper()
	ctx := context.Background()
	for i, a := range answers {
		now := time.Now()
		tg, err := e.store.StartAttempt(ctx, db.AttemptStart{DeliveryID: d.ID, Series: d.Series, Number: i + 1,
			StartedAt: now, Gate: db.GateInput{Lease: time.Minute}})
		if err != nil || tg.Gate != db.GateSend {
			e.t.Fatalf("opening attempt %d: %v (%s)", i+1, err, tg.Gate)
		}
		row := db.Attempt{DeliveryID: d.ID, Series: d.Series, Number: i + 1, Try: tg.Try, StartedAt: now,
			DurationMS: a[1], FinishedAt: &now}
		if a[0] != 0 {
			row.ResponseStatus = &a[0]
		}
		o := db.AttemptOutcome{Status: delivery.Retrying, NextAttemptAt: &now}
		switch {
		case a[0] >= 200 && a[0] < 300:
			o = db.AttemptOutcome{Status: delivery.Succeeded}
		case i == len(answers)-1:
			o = db.AttemptOutcome{Status: delivery.Failed, Reason: "gave up"}
		}
		if _, err := e.store.FinishAttempt(ctx, row, o, db.HealthNone, db.ThrottleSignal{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// point is the point of s starting at start, if any.
func point(s resource.Stats, start time.Time) *resource.StatsPoint {
	for i := range s.Series {
		if s.Series[i].Start.Equal(start) {
			return &s.Series[i]
		}
	}
	return nil
}

// stats GETs path as key and decodes the answer.
func (e *env) stats(path, key string) resource.Stats {
	e.t.Helper()
	r := e.do("GET", path, key, nil).want(e.t, 200, "")
	var s resource.Stats
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestStatsAPI: a webhook's and its account's statistics after three
// deliveries (one at once, one after a retry, one given up on), for
// admins and members; another account sees none of it; readers and
// publishers are refused; a bad window or breakdown is a 422 naming the
// field.
func TestStatsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, admin := e.account("professional")
	member, reader, publisher := e.newKey(admin, "member"), e.newKey(admin, "reader"), e.newKey(admin, "publisher")
	_, other := e.account("professional")
	_, trial := e.account("trial")
	hook, _ := e.createWebhook(admin, validWebhook("CRM"))
	quiet, _ := e.createWebhook(admin, validWebhook("Quiet"))
	otherHook, _ := e.createWebhook(other, validWebhook("CRM"))

	started := time.Now().UTC()
	e.answered(e.pendingDelivery(acct, hook), [2]int{200, 40})
	e.answered(e.pendingDelivery(acct, hook), [2]int{500, 120}, [2]int{204, 80})
	e.answered(e.pendingDelivery(acct, hook), [2]int{0, 1000}, [2]int{503, 300})
	if _, err := e.store.FoldStats(context.Background(), 100); err != nil {
		t.Fatal(err)
	}

	s := e.stats("/v1/webhooks/"+hook+"/stats", member)
	if s.Window != "24h" || s.Interval != "hour" || len(s.Series) != 24 || !s.To.Equal(s.From.Add(24*time.Hour)) {
		t.Fatalf("24h window: %s %s, %d points, %s – %s", s.Window, s.Interval, len(s.Series), s.From, s.To)
	}
	tot := s.Totals
	if tot.Deliveries != 3 || tot.Succeeded != 2 || tot.Failed != 1 || tot.Attempts != 5 || tot.FailedAttempts != 3 ||
		tot.SuccessRate == nil || *tot.SuccessRate != 0.6667 || tot.LatencyMS.Answered != 4 {
		t.Fatalf("totals: %+v", tot)
	}
	// Answers of 40, 80, 120 and 300 ms (the unanswered attempt has no
	// latency): the exact p50 is 80 ms, p95 300 ms; the estimates lie in
	// their buckets, [76, 91] and [256, 304].
	if p := tot.LatencyMS; *p.P50 < 76 || *p.P50 > 91 || *p.P95 < 256 || *p.P95 > 304 {
		t.Fatalf("latency p50 %v, p95 %v", *p.P50, *p.P95)
	}
	// The hour they were made in holds them (the one in progress, unless
	// the hour turned meanwhile).
	if p := point(s, started.Truncate(time.Hour)); p == nil || p.Deliveries != 3 || p.Attempts != 5 {
		t.Fatalf("the hour of the deliveries: %+v", p)
	}
	if first := s.Series[0]; first.Deliveries != 0 || first.SuccessRate != nil || first.LatencyMS.P50 != nil {
		t.Fatalf("an empty hour: %+v", first)
	}

	month := e.stats("/v1/webhooks/"+hook+"/stats?window=30d", admin)
	day := time.Date(started.Year(), started.Month(), started.Day(), 0, 0, 0, 0, time.UTC)
	if p := point(month, day); month.Interval != "day" || len(month.Series) != 30 || month.Totals.Deliveries != 3 ||
		p == nil || p.Attempts != 5 {
		t.Fatalf("30d: %s, %d points, totals %+v", month.Interval, len(month.Series), month.Totals)
	}

	all := e.stats("/v1/stats?by=webhook", admin)
	if all.Totals.Deliveries != 3 || len(all.Webhooks) != 2 || all.Webhooks[0].WebhookID != hook ||
		*all.Webhooks[0].Name != "CRM" || all.Webhooks[0].Attempts != 5 || all.Webhooks[1].WebhookID != quiet ||
		all.Webhooks[1].Deliveries != 0 {
		t.Fatalf("account-wide by webhook: %+v", all)
	}
	if plain := e.stats("/v1/stats?window=30d", member); plain.Webhooks != nil || plain.Totals.Attempts != 5 {
		t.Fatalf("account-wide 30d: %+v", plain)
	}

	// Tenant isolation: the other account has its own (empty) statistics
	// and does not find this webhook; this account does not find its.
	if s := e.stats("/v1/stats?by=webhook", other); s.Totals.Attempts != 0 || len(s.Webhooks) != 1 ||
		s.Webhooks[0].WebhookID != otherHook {
		t.Fatalf("the other account sees: %+v", s)
	}
	e.do("GET", "/v1/webhooks/"+hook+"/stats", other, nil).want(t, 404, "not_found")
	e.do("GET", "/v1/webhooks/"+otherHook+"/stats", admin, nil).want(t, 404, "not_found")
	e.do("GET", "/v1/webhooks/"+uuid.NewString()+"/stats", admin, nil).want(t, 404, "not_found")
	e.do("GET", "/v1/webhooks/not-an-id/stats", admin, nil).want(t, 404, "not_found")

	for _, key := range []string{reader, publisher} {
		e.do("GET", "/v1/stats", key, nil).want(t, 403, "forbidden")
		e.do("GET", "/v1/webhooks/"+hook+"/stats", key, nil).want(t, 403, "forbidden")
	}
	e.do("GET", "/v1/stats", trial, nil).want(t, 403, "plan_not_supported")

	for path, field := range map[string]string{
		"/v1/stats?window=7d":                         "window",
		"/v1/stats?window=24H":                        "window",
		"/v1/stats?by=event":                          "by",
		"/v1/webhooks/" + hook + "/stats?window=1h":   "window",
		"/v1/webhooks/" + hook + "/stats?by=webhook":  "by",
		"/v1/webhooks/" + hook + "/stats?window=%00x": "window",
	} {
		r := e.do("GET", path, admin, nil).want(t, 422, "validation_failed")
		r.wantErrorShape(t)
		if r.field(field) == "" {
			t.Errorf("%s: no message for %s: %s", path, field, r.Raw)
		}
	}
}
