package activities

import (
	"log/slog"
	"sync"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/filter"
)

// filterCache is the worker's compiled payload filters, made on first use.
type filterCache struct {
	filtersOnce     sync.Once
	compiledFilters *filter.Cache
}

func (a *Activities) filters() *filter.Cache {
	a.filtersOnce.Do(func() { a.compiledFilters = filter.NewCache(0) })
	return a.compiledFilters
}

// applyFilters evaluates the payload filters of the webhooks ResolveEvent
// matched (r.Filters) on the event and returns the webhooks whose filter
// passed. A filter that cannot be evaluated on the event — a data member
// it reads is missing or of another type, the event is too large for its
// cost limit — does not pass, like one that is false: the same filter on
// the same event always errs the same way, so a retry or a replay decides
// alike, and a webhook asked for the events its filter is true for.
// Each such error is counted (webhookd_filter_evaluations_total) and
// logged with the webhook, the event and a reason that never quotes the
// event's data; the plan counts them too (FilterErrors, in the workflow's
// history).
func (a *Activities) applyFilters(ev db.Event, r db.Resolution, dp *DeliveryPlan) []uuid.UUID {
	e := ev.Event
	if e.Data == nil {
		e.Data = r.Data // a stored event: the data ResolveEvent read
	}
	in, inErr := filter.NewInput(e)
	var passed []uuid.UUID
	for _, pf := range r.Filters {
		ok, err := a.match(pf.Filter, in, inErr)
		result := "match"
		switch {
		case err != nil:
			result = "error"
			dp.FilterErrors++
			a.log().Warn("payload filter failed: the event is not delivered to the webhook", slog.String("webhookId", pf.WebhookID.String()),
				slog.String("accountId", ev.AccountID.String()), slog.String("eventId", e.ID), slog.String("eventType", e.Type),
				slog.String("reason", filter.LogReason(err, pf.Filter)))
		case ok:
			passed = append(passed, pf.WebhookID)
		default:
			result = "no_match"
			dp.FilteredOut++
		}
		a.Metrics.ObserveFilter(result)
	}
	return passed
}

// match evaluates the filter src on in (inErr: why there is no input).
func (a *Activities) match(src string, in *filter.Input, inErr error) (bool, error) {
	if inErr != nil {
		return false, inErr
	}
	f, err := a.filters().Get(src)
	if err != nil {
		return false, err // saved before a rule it breaks: an error like any other
	}
	return f.Match(in)
}
