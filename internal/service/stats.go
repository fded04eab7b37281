package service

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/stats"
)

// StatsQuery asks for delivery statistics: Window "24h" (by hour, the
// default) or "30d" (by UTC day); By "webhook" adds each webhook's totals
// (account-wide statistics only).
type StatsQuery struct {
	Window string
	By     string
}

// read checks q: the window, and whether a breakdown by webhook is asked
// for (allowed only when byAllowed).
func (q StatsQuery) read(byAllowed bool) (stats.Window, bool, error) {
	name := q.Window
	if name == "" {
		name = stats.DefaultWindow
	}
	bad := map[string]string{}
	w, err := stats.WindowNamed(name)
	if err != nil {
		bad["window"] = err.Error()
	}
	switch {
	case q.By == "":
	case q.By == "webhook" && byAllowed:
	case byAllowed:
		bad["by"] = "must be webhook (or left out)"
	default:
		bad["by"] = "is only for account-wide statistics (GET /v1/stats)"
	}
	if len(bad) > 0 {
		return stats.Window{}, false, invalidFields(bad)
	}
	return w, q.By == "webhook", nil
}

// WebhookStats are the delivery statistics of one of the caller's
// webhooks.
func (s *Service) WebhookStats(ctx context.Context, c Caller, id uuid.UUID, q StatsQuery) (stats.Report, error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return stats.Report{}, err
	}
	w, _, err := q.read(false)
	if err != nil {
		return stats.Report{}, err
	}
	if _, err := s.store.Webhook(ctx, c.AccountID, id); err != nil {
		return stats.Report{}, notFoundOr(err, "webhook")
	}
	now := s.now()
	points, err := s.store.WebhookStats(ctx, c.AccountID, id, w.Period, w.Starts(now)[0])
	if err != nil {
		return stats.Report{}, err
	}
	return stats.NewReport(w, now, points), nil
}

// AccountStats are the delivery statistics of all the caller's webhooks
// (deleted ones included), with each webhook's totals when asked.
func (s *Service) AccountStats(ctx context.Context, c Caller, q StatsQuery) (stats.Report, error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return stats.Report{}, err
	}
	w, byWebhook, err := q.read(true)
	if err != nil {
		return stats.Report{}, err
	}
	now := s.now()
	since := w.Starts(now)[0]
	points, err := s.store.AccountStats(ctx, c.AccountID, w.Period, since)
	if err != nil {
		return stats.Report{}, err
	}
	out := stats.NewReport(w, now, points)
	if byWebhook {
		out.Webhooks, err = s.webhookTotals(ctx, c.AccountID, w.Period, since)
	}
	return out, err
}

// webhookTotals are each webhook's totals since since: every webhook of
// the account, and deleted ones that have rows.
func (s *Service) webhookTotals(ctx context.Context, accountID uuid.UUID, p stats.Period, since time.Time) ([]stats.WebhookTotals, error) {
	names, err := s.store.WebhookNames(ctx, accountID)
	if err != nil {
		return nil, err
	}
	totals, err := s.store.AccountWebhookTotals(ctx, accountID, p, since)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]stats.WebhookTotals, len(names))
	for id, name := range names {
		byID[id] = stats.WebhookTotals{WebhookID: id, Name: name}
	}
	for _, t := range totals {
		t.Name = names[t.WebhookID] // "" for a deleted webhook
		byID[t.WebhookID] = t
	}
	out := make([]stats.WebhookTotals, 0, len(byID))
	for _, t := range byID {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b stats.WebhookTotals) int {
		return cmp.Or(cmp.Compare(b.Deliveries(), a.Deliveries()), cmp.Compare(b.Attempts, a.Attempts),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.WebhookID.String(), b.WebhookID.String()))
	})
	return out, nil
}
