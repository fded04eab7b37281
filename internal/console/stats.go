package console

import (
	"net/http"
	"net/url"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/internal/stats"
)

// statsPanel is a window of statistics as a page shows it: the totals,
// the chart, the same series as a table, and links to the other windows.
type statsPanel struct {
	resource.Stats
	Chart   chart
	Windows []windowLink
	// Webhooks are the account page's rows, with a link to each
	// webhook still there.
	Webhooks []webhookStats
}

// windowLink switches the page to another window.
type windowLink struct {
	Name    string
	URL     string
	Current bool
}

type webhookStats struct {
	resource.WebhookStats
	Deleted bool
}

// newStatsPanel shows report r on the page at u (its other query
// parameters kept when the window changes).
func newStatsPanel(r stats.Report, u *url.URL) *statsPanel {
	s := resource.FromStats(r)
	layout := "15:04"
	if s.Interval == string(stats.Day) {
		layout = "01-02"
	}
	p := &statsPanel{Stats: s, Chart: newChart(s, func(pt resource.StatsPoint) string { return pt.Start.Format(layout) })}
	for _, w := range stats.Windows {
		q := u.Query()
		q.Set("window", w.Name)
		p.Windows = append(p.Windows, windowLink{Name: w.Name, URL: u.Path + "?" + q.Encode(), Current: w.Name == s.Window})
	}
	for _, w := range s.Webhooks {
		p.Webhooks = append(p.Webhooks, webhookStats{WebhookStats: w, Deleted: w.Name == nil})
	}
	return p
}

// webhookStatsPanel is the details page's statistics of webhook id, in the
// window the page's query names.
func (c *Console) webhookStatsPanel(r *http.Request, s *session, id string) (*statsPanel, error) {
	wid, err := service.ParseID(id, "webhook")
	if err != nil {
		return nil, err
	}
	rep, err := c.svc.WebhookStats(r.Context(), s.caller, wid, service.StatsQuery{Window: r.URL.Query().Get("window")})
	if err != nil {
		return nil, err
	}
	// The details page's own address: a page answering a form shows it too.
	return newStatsPanel(rep, &url.URL{Path: "/console/webhooks/" + url.PathEscape(id), RawQuery: r.URL.RawQuery}), nil
}

// statsPage is the account's overview: all its webhooks together, then
// each one's totals.
func (c *Console) statsPage(w http.ResponseWriter, r *http.Request, s *session) {
	rep, err := c.svc.AccountStats(r.Context(), s.caller, service.StatsQuery{Window: r.URL.Query().Get("window"), By: "webhook"})
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "stats", &page{Data: newStatsPanel(rep, r.URL)})
}
