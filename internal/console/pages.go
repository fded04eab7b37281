package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/google/uuid"
)

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fsSub("ui/static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServer(http.FS(static))))
	m.HandleFunc("GET /console/login", c.login)
	m.HandleFunc("GET /console/lang", c.setLanguage)
	m.HandleFunc("POST /console/logout", c.auth(c.logout))
	m.HandleFunc("GET /console/{$}", c.auth(c.list))
	m.HandleFunc("GET /console/webhooks/new", c.auth(c.adminOnly(c.newForm)))
	m.HandleFunc("POST /console/webhooks/new", c.auth(c.create))
	m.HandleFunc("GET /console/webhooks/{id}", c.auth(c.details))
	m.HandleFunc("POST /console/webhooks/{id}/secret", c.auth(c.revealSecret))
	m.HandleFunc("GET /console/webhooks/{id}/edit", c.auth(c.adminOnly(c.editForm)))
	m.HandleFunc("POST /console/webhooks/{id}/edit", c.auth(c.update))
	m.HandleFunc("POST /console/webhooks/{id}/enable", c.auth(c.setEnabled(true)))
	m.HandleFunc("POST /console/webhooks/{id}/disable", c.auth(c.setEnabled(false)))
	m.HandleFunc("GET /console/webhooks/{id}/delete", c.auth(c.adminOnly(c.deleteForm)))
	m.HandleFunc("POST /console/webhooks/{id}/delete", c.auth(c.delete))
	m.HandleFunc("GET /console/webhooks/{id}/reset", c.auth(c.adminOnly(c.resetForm)))
	m.HandleFunc("POST /console/webhooks/{id}/reset", c.auth(c.reset))
	m.HandleFunc("POST /console/webhooks/{id}/test", c.auth(c.test))
	m.HandleFunc("POST /console/webhooks/{id}/example", c.auth(c.example))
	m.HandleFunc("GET /console/webhooks/{id}/deliveries", c.auth(c.deliveries))
	m.HandleFunc("POST /console/webhooks/{id}/deliveries", c.auth(c.resendFailed))
	m.HandleFunc("GET /console/deliveries/{id}", c.auth(c.deliveryPage))
	m.HandleFunc("POST /console/deliveries/{id}/resend", c.auth(c.resend))
	m.HandleFunc("POST /console/deliveries/{id}/release", c.auth(c.release))
	m.HandleFunc("GET /console/events/{id}", c.auth(c.eventPage))
	m.HandleFunc("GET /console/event-types", c.auth(c.eventTypes))
	m.HandleFunc("GET /console/stats", c.auth(c.statsPage))
	m.HandleFunc("GET /console/audit-log", c.auth(c.adminOnly(c.auditLog)))
	m.HandleFunc("GET /console/channels", c.auth(c.adminOnly(c.channels)))
	m.HandleFunc("POST /console/channels", c.auth(c.adminOnly(c.addChannel)))
	m.HandleFunc("POST /console/channels/{id}/test", c.auth(c.adminOnly(c.testChannel)))
	m.HandleFunc("POST /console/channels/{id}/delete", c.auth(c.adminOnly(c.deleteChannel)))
	m.HandleFunc("GET /console/channels/{id}/edit", c.auth(c.adminOnly(c.editChannel)))
	m.HandleFunc("POST /console/channels/{id}/edit", c.auth(c.adminOnly(c.updateChannel)))
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, nil, http.StatusNotFound, "notfound.title", "notfound.body")
	})
	c.mux = m
}

// adminOnly keeps a member off the pages of forms only an admin may send
// (the API refuses the forms themselves).
func (c *Console) adminOnly(next handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.Admin() {
			c.message(w, r, s, http.StatusForbidden, "forbidden.title", "member.readonly")
			return
		}
		next(w, r, s)
	}
}

// inPage is err as a message the page shows beside what was asked, or nil
// when it deserves a page of its own (forbidden, no plan, unexpected).
func inPage(err error) *service.Error {
	var e *service.Error
	if errors.As(err, &e) && e.Kind != service.Forbidden && e.Kind != service.PlanNotSupported {
		return e
	}
	return nil
}

// The pages show what the API shows, in the API's own types.
type (
	webhook      = resource.Webhook
	deliveryView = resource.Delivery
)

// pathID is the {id} of the route, escaped for a console URL.
func pathID(r *http.Request) string { return url.PathEscape(r.PathValue("id")) }

// login exchanges a one-time link for a session, on record (the store
// names the account and the new session in it).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	a := service.NewAudit(service.Caller{Actor: c.actor(r, "")}, service.ActionConsoleSignIn, service.ResourceConsoleSession, "")
	sess, id, err := c.store.UseConsoleLink(r.Context(), r.URL.Query().Get("token"), c.now(), c.cfg.ConsoleSessionMax, a)
	switch {
	case errors.Is(err, db.ErrLinkUsed):
		c.message(w, r, nil, http.StatusGone, "link.used.title", "link.used.body")
		return
	case errors.Is(err, db.ErrLinkExpired):
		c.message(w, r, nil, http.StatusGone, "link.expired.title", "link.expired.body")
		return
	case errors.Is(err, db.ErrNotFound):
		c.message(w, r, nil, http.StatusNotFound, "link.unknown.title", "link.unknown.body")
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	c.svc.Logged(a)
	c.log.Info("console: signed in", "accountId", sess.AccountID, "role", sess.Role)
	c.setCookie(w, id)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	a := service.NewAudit(s.caller, service.ActionConsoleSignOut, service.ResourceConsoleSession, db.SessionRef(s.id))
	if err := c.store.DeleteConsoleSession(r.Context(), s.id, a); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.svc.Logged(a)
	c.clearCookie(w)
	c.render(w, r, nil, http.StatusOK, "signedout", &page{Data: s.ReturnURL})
}

// setLanguage is the language switch: a cookie, then back where it was.
func (c *Console) setLanguage(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	for _, known := range languages {
		if l == known {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/console", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.cfg.ConsoleSecure()})
		}
	}
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "/console//") || strings.Contains(next, "\\") {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// listRow is a webhook with its last delivery.
type listRow struct {
	webhook
	Last *deliveryView
}

func (c *Console) list(w http.ResponseWriter, r *http.Request, s *session) {
	pg, err := c.svc.ListWebhooks(r.Context(), s.caller, service.WebhookQuery{
		PageQuery: service.PageQuery{Limit: 50, Cursor: r.URL.Query().Get("cursor")}})
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	rows := make([]listRow, len(pg.Items))
	for i, wh := range pg.Items {
		rows[i].webhook = c.view(wh)
		last, err := c.svc.ListDeliveries(r.Context(), s.caller, service.DeliveryQuery{
			PageQuery: service.PageQuery{Limit: 1}, WebhookID: wh.ID.String()})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if len(last.Items) > 0 {
			d := resource.FromDelivery(last.Items[0])
			rows[i].Last = &d
		}
	}
	c.render(w, r, s, http.StatusOK, "list", &page{Data: map[string]any{"Rows": rows, "Next": pg.Next}})
}

// view shows a webhook as the API does.
func (c *Console) view(w db.Webhook) webhook { return resource.FromWebhook(w, c.now()) }

// form is the add/edit form: what was entered, and the API's field errors.
type form struct {
	ID             string
	Name           string
	URL            string
	EventTypes     []string
	TriggerSources []string
	AppIDs         string
	// Ordered and OrderedOnFailure: each ordering key's events in order,
	// and what a give-up does to the key (one of OnFailures).
	Ordered          bool
	OrderedOnFailure string
	Fields           map[string]string
	Catalogue        []events.TypeInfo
	System           []events.TypeInfo
	Sources          []events.TypeInfo
	OnFailures       []string
	filterForm       // the payload filter and its test box (filter.go)
	optionsForm      // timeout, retry schedule and payload (delivery_options.go)
	receiverForm     // custom headers and receiver auth (receiver.go)
	tlsForm          // mutual TLS and the private CA bundle (tls.go)
}

func newForm() *form {
	f := &form{Catalogue: events.Catalogue, System: events.SystemCatalogue, Sources: events.TriggerSources,
		OrderedOnFailure: db.OnFailureContinue, OnFailures: []string{db.OnFailureContinue, db.OnFailureHold},
		optionsForm: newOptionsForm()}
	f.receiverForm = newReceiverForm()
	return f
}

func (f *form) read(r *http.Request) {
	f.Name, f.URL = r.PostFormValue("name"), strings.TrimSpace(r.PostFormValue("url"))
	f.EventTypes = nonNil(r.PostForm["eventTypes"])
	f.TriggerSources = nonNil(r.PostForm["triggerSources"])
	f.AppIDs = r.PostFormValue("appIds")
	// An unchecked box is not sent; the select always is, so a form
	// without it gets the service's message beside the field.
	f.Ordered = r.PostFormValue("ordered") != ""
	f.OrderedOnFailure = r.PostFormValue("orderedOnFailure")
	f.readFilter(r)
	f.optionsForm.read(r)
	f.readReceiver(r)
	f.readTLS(r)
}

// appIDs are the form's app ids: they count only with the third-party
// trigger source, one per line or separated by commas.
func (f *form) appIDs() []string {
	appIDs := []string{}
	if has(f.TriggerSources, events.SourceThirdPartyApp) {
		for _, a := range strings.FieldsFunc(f.AppIDs, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			if a = strings.TrimSpace(a); a != "" {
				appIDs = append(appIDs, a)
			}
		}
	}
	return appIDs
}

// input is the form as a new webhook.
func (f *form) input() service.WebhookInput {
	in := service.WebhookInput{Name: f.Name, URL: f.URL, EventTypes: f.EventTypes, TriggerSources: f.TriggerSources,
		AppIDs: f.appIDs(), Filter: f.Filter, Ordered: f.Ordered, OrderedOnFailure: f.OrderedOnFailure}
	f.setInput(&in)
	in.Headers, in.Auth, in.TLS = f.headers(), f.auth(), f.tls()
	return in
}

// patch is the form as an edit: every field it shows.
func (f *form) patch() service.WebhookPatch {
	p := service.WebhookPatch{Name: &f.Name, URL: &f.URL, EventTypes: f.EventTypes, TriggerSources: f.TriggerSources,
		AppIDs: f.appIDs(), Filter: service.Nullable[string]{Set: true, Value: &f.Filter}, Ordered: &f.Ordered,
		OrderedOnFailure: &f.OrderedOnFailure}
	f.setPatch(&p)
	p.Headers, p.Auth, p.TLS = f.headers(), f.auth(), f.tls()
	return p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Console) newForm(w http.ResponseWriter, r *http.Request, s *session) {
	// A plan without webhooks gets its page rather than a form.
	if err := service.Authorize(s.caller, service.ManageWebhooks); err != nil {
		c.failed(w, r, s, err)
		return
	}
	f := newForm()
	f.TriggerSources = []string{events.SourceSaaSPage}
	f.FilterSample = sampleFor(nil)
	c.render(w, r, s, http.StatusOK, "form", &page{Data: f})
}

// formFailed renders the form again with the services' error: next to each
// field when it names fields, above the form otherwise.
func (c *Console) formFailed(w http.ResponseWriter, r *http.Request, s *session, f *form, err error) {
	var e *service.Error
	if !errors.As(err, &e) || e.Kind == service.PlanNotSupported {
		c.failed(w, r, s, err)
		return
	}
	f.Fields = e.Fields
	p := &page{Data: f}
	if len(e.Fields) == 0 {
		p.Error = e
	}
	c.render(w, r, s, e.Kind.Status(), "form", p)
}

func (c *Console) create(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	f.read(r)
	if testingFilter(r) {
		c.testFilter(w, r, s, f)
		return
	}
	wh, secret, err := c.svc.CreateWebhook(r.Context(), s.caller, f.input())
	if err != nil {
		c.formFailed(w, r, s, f, err)
		return
	}
	c.render(w, r, s, http.StatusCreated, "secret", &page{Data: map[string]any{
		"Webhook": c.view(wh), "Secret": secret, "Created": true}})
}

// webhook fetches the route's webhook, rendering the error when it cannot.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request, s *session) (webhook, bool) {
	wh, err := c.lookup(r, s)
	if err != nil {
		c.failed(w, r, s, err)
		return webhook{}, false
	}
	return c.view(wh), true
}

func (c *Console) lookup(r *http.Request, s *session) (db.Webhook, error) {
	id, err := service.ParseID(r.PathValue("id"), "webhook")
	if err != nil {
		return db.Webhook{}, err
	}
	return c.svc.Webhook(r.Context(), s.caller, id)
}

// detailsData is the details page: the webhook, and what an action on it
// just showed (the secret, a test's answer).
type detailsData struct {
	Webhook webhook
	Secret  string
	Test    *testResult
	Stats   *statsPanel
}

// detailsPage renders the details page of d with the webhook's statistics.
func (c *Console) detailsPage(w http.ResponseWriter, r *http.Request, s *session, d detailsData) {
	var err error
	if d.Stats, err = c.webhookStatsPanel(r, s, d.Webhook.ID); err != nil {
		c.failed(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "details", &page{Data: d})
}

// testResult is a test send's attempt and, when it failed, why.
type testResult struct {
	resource.TestAttempt
	Message string
}

func (c *Console) details(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		c.detailsPage(w, r, s, detailsData{Webhook: wh})
	}
}

func (c *Console) revealSecret(w http.ResponseWriter, r *http.Request, s *session) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	secret, err := c.svc.Secret(r.Context(), s.caller, uuid.MustParse(wh.ID))
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	c.detailsPage(w, r, s, detailsData{Webhook: wh, Secret: secret})
}

func (c *Console) test(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		res, err := c.svc.TestWebhook(r.Context(), s.caller, uuid.MustParse(wh.ID))
		c.tested(w, r, s, res, err)
	}
}

// example sends the sample of a type the webhook subscribes to ("send
// example"), like a test event.
func (c *Console) example(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		res, err := c.svc.SendExample(r.Context(), s.caller, uuid.MustParse(wh.ID), r.PostFormValue("eventType"))
		c.tested(w, r, s, res, err)
	}
}

// tested shows a test send's answer on the webhook's page.
func (c *Console) tested(w http.ResponseWriter, r *http.Request, s *session, res service.TestResult, err error) {
	e := inPage(err)
	if err != nil && e == nil {
		c.failed(w, r, s, err)
		return
	}
	t := &testResult{TestAttempt: resource.TestAttempt{EventID: res.EventID, EventType: res.EventType, DeliveryID: res.DeliveryID,
		Success: res.Success, StatusCode: res.StatusCode, DurationMS: res.DurationMS, Error: res.Error}}
	switch {
	case e != nil:
		t.Message = e.Message
		if msg, ok := e.Fields["eventType"]; ok { // a refused example: why its type
			t.Message = msg
		}
	case res.Err != nil:
		t.Message = res.Err.Message
	}
	if wh, ok := c.webhook(w, r, s); ok { // as the test left it (its health)
		c.detailsPage(w, r, s, detailsData{Webhook: wh, Test: t})
	}
}

func (c *Console) editForm(w http.ResponseWriter, r *http.Request, s *session) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	f := newForm()
	f.ID, f.Name, f.URL, f.EventTypes, f.TriggerSources = wh.ID, wh.Name, wh.URL, wh.EventTypes, wh.TriggerSources
	f.AppIDs = strings.Join(wh.AppIDs, "\n")
	f.Ordered, f.OrderedOnFailure = wh.Ordered, wh.OrderedOnFailure
	f.Filter, f.FilterSample = wh.Filter, sampleFor(wh.EventTypes)
	f.fill(wh)
	f.fillReceiver(wh)
	f.fillTLS(wh)
	p := &page{Data: f}
	if wh.Enabled() {
		// The service refuses the save; say so before the admin types.
		p.Error = &service.Error{Kind: service.WebhookEnabled, Message: p.tr(c, r, "edit.enabled")}
	}
	c.render(w, r, s, http.StatusOK, "form", p)
}

// tr translates outside a template.
func (p *page) tr(c *Console, r *http.Request, key string) string {
	return (&page{c: c, Lang: language(r)}).T(key)
}

func (c *Console) update(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	f.read(r)
	f.ID = r.PathValue("id")
	if testingFilter(r) {
		c.testFilter(w, r, s, f)
		return
	}
	id, err := service.ParseID(f.ID, "webhook")
	if err == nil {
		_, err = c.svc.UpdateWebhook(r.Context(), s.caller, id, f.patch())
	}
	if err != nil {
		c.formFailed(w, r, s, f, err)
		return
	}
	http.Redirect(w, r, "/console/webhooks/"+pathID(r)+"?done=saved", http.StatusSeeOther)
}

func (c *Console) setEnabled(on bool) handler {
	done := "disabled"
	if on {
		done = "enabled"
	}
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id, err := service.ParseID(r.PathValue("id"), "webhook")
		switch {
		case err != nil:
		case on:
			_, err = c.svc.EnableWebhook(r.Context(), s.caller, id, service.Replay{})
		default:
			_, err = c.svc.DisableWebhook(r.Context(), s.caller, id)
		}
		if err != nil {
			c.failed(w, r, s, err)
			return
		}
		next := "/console/?done=" + done
		if r.PostFormValue("from") == "details" {
			next = "/console/webhooks/" + pathID(r) + "?done=" + done
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

func (c *Console) deleteForm(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		c.render(w, r, s, http.StatusOK, "delete", &page{Data: map[string]any{"Webhook": wh}})
	}
}

func (c *Console) delete(w http.ResponseWriter, r *http.Request, s *session) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	if r.PostFormValue("confirmName") != wh.Name {
		p := &page{}
		p.Data = map[string]any{"Webhook": wh, "Mismatch": p.tr(c, r, "delete.mismatch")}
		c.render(w, r, s, http.StatusUnprocessableEntity, "delete", p)
		return
	}
	err := c.svc.DeleteWebhook(r.Context(), s.caller, uuid.MustParse(wh.ID), wh.ID)
	var e *service.Error
	switch {
	case err == nil:
		http.Redirect(w, r, "/console/?done=deleted", http.StatusSeeOther)
	case errors.As(err, &e) && e.Kind != service.PlanNotSupported:
		c.render(w, r, s, e.Kind.Status(), "delete", &page{Error: e, Data: map[string]any{"Webhook": wh}})
	default:
		c.failed(w, r, s, err)
	}
}

// gracePeriods offered when resetting a secret, in seconds.
var gracePeriods = []int{0, 3600, 86400, 604800}

func (c *Console) resetForm(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		c.render(w, r, s, http.StatusOK, "reset", &page{Data: map[string]any{"Webhook": wh, "Graces": gracePeriods}})
	}
}

func (c *Console) reset(w http.ResponseWriter, r *http.Request, s *session) {
	grace, err := strconv.Atoi(r.PostFormValue("gracePeriodSeconds"))
	if err != nil {
		grace = 86400
	}
	id, err := service.ParseID(r.PathValue("id"), "webhook")
	var out service.SecretReset
	if err == nil {
		out, err = c.svc.ResetSecret(r.Context(), s.caller, id, service.SecretResetInput{GracePeriodSeconds: &grace})
	}
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "secret", &page{Data: map[string]any{
		"Webhook": c.view(out.Webhook), "Secret": out.Secret, "PreviousUntil": out.PreviousExpiry}})
}

// deliveryStatuses are the delivery log's filter values.
var deliveryStatuses = []string{"waiting", "pending", "retrying", "succeeded", "failed", "cancelled", "skipped_disabled"}

// resendWindows are the "resend failed since…" choices.
var resendWindows = []string{"1h", "24h", "168h", "720h"}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	c.deliveriesWith(w, r, s, http.StatusOK, nil)
}

// deliveriesWith renders a webhook's delivery log, searched by the query's
// filters (those of GET /v1/deliveries), with the outcome of a bulk
// resend when there was one. A search the service refuses shows why,
// beside the form.
func (c *Console) deliveriesWith(w http.ResponseWriter, r *http.Request, s *session, status int, resent *bulkResult) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	sf := readSearch(r.URL.Query())
	q := service.DeliveryQuery{PageQuery: service.PageQuery{Limit: 50, Cursor: r.URL.Query().Get("cursor")}, WebhookID: wh.ID,
		LogSearch: sf.search(), HTTPStatus: sf.HTTPStatus}
	if has(deliveryStatuses, sf.Status) {
		q.Status = sf.Status
	}
	pg, err := c.svc.ListDeliveries(r.Context(), s.caller, q)
	searchErr := inPage(err)
	if err != nil && (searchErr == nil || searchErr.Kind != service.Invalid) {
		c.failed(w, r, s, err)
		return
	}
	next := ""
	if pg.Next != "" {
		nq := sf.values()
		nq.Set("cursor", pg.Next)
		next = "/console/webhooks/" + url.PathEscape(wh.ID) + "/deliveries?" + nq.Encode()
	}
	c.render(w, r, s, status, "deliveries", &page{Data: map[string]any{
		"Webhook": wh, "Deliveries": resource.FromDeliveries(pg.Items), "Next": next, "Search": sf, "SearchError": searchErr,
		"Statuses": deliveryStatuses, "Windows": resendWindows, "Resent": resent, "Types": events.Catalogue,
		"System": events.SystemCatalogue, "Sources": []string{events.SourceSaaSPage, events.SourceThirdPartyApp, events.SourceSystem}}})
}

// searchForm is the delivery log's search, as its form gives it: the times
// as the browser's datetime-local inputs write them, read as UTC (the
// console shows every time in UTC).
type searchForm struct {
	From, To, Status, HTTPStatus, EventID, EventType, TriggerSource, OrderingKey, EnvelopeID string
}

func readSearch(v url.Values) searchForm {
	return searchForm{From: v.Get("from"), To: v.Get("to"), Status: v.Get("status"), HTTPStatus: v.Get("httpStatus"),
		EventID: v.Get("eventId"), EventType: v.Get("eventType"), TriggerSource: v.Get("triggerSource"),
		OrderingKey: v.Get("orderingKey"), EnvelopeID: v.Get("envelopeId")}
}

// values is f as a query, without its empty fields.
func (f searchForm) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"from": f.From, "to": f.To, "status": f.Status, "httpStatus": f.HTTPStatus,
		"eventId": f.EventID, "eventType": f.EventType, "triggerSource": f.TriggerSource, "orderingKey": f.OrderingKey,
		"envelopeId": f.EnvelopeID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (f searchForm) search() service.LogSearch {
	return service.LogSearch{From: utcTime(f.From), To: utcTime(f.To), EventID: f.EventID, EventType: f.EventType,
		TriggerSource: f.TriggerSource, OrderingKey: f.OrderingKey, EnvelopeID: f.EnvelopeID}
}

// utcTime turns a datetime-local value (2026-12-01T10:00, seconds
// optional) into RFC 3339 in UTC; anything else goes to the service as
// typed, which names it if it is no time.
func utcTime(s string) string {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.Format(time.RFC3339)
		}
	}
	return s
}

// bulkResult is what "resend failed" did, or why it did nothing.
type bulkResult struct {
	service.BulkResult
	Error *service.Error
}

func (c *Console) resendFailed(w http.ResponseWriter, r *http.Request, s *session) {
	window, err := time.ParseDuration(r.PostFormValue("since"))
	if err != nil || !has(resendWindows, r.PostFormValue("since")) {
		window = 24 * time.Hour
	}
	since := c.now().Add(-window).UTC()
	res, err := c.svc.ResendMany(r.Context(), s.caller, service.BulkResend{WebhookID: r.PathValue("id"), Status: "failed", Since: &since})
	out := &bulkResult{BulkResult: res, Error: inPage(err)}
	if err != nil && out.Error == nil {
		c.failed(w, r, s, err)
		return
	}
	c.deliveriesWith(w, r, s, http.StatusOK, out)
}

func (c *Console) deliveryPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.deliveryWith(w, r, s, nil)
}

// deliveryWith renders a delivery page, with the error of an action on it
// (resend, release) when there was one.
func (c *Console) deliveryWith(w http.ResponseWriter, r *http.Request, s *session, actionErr *service.Error) {
	d, err := c.delivery(r, s)
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	var wh *db.Webhook // nil: deleted
	var view *webhook
	if v, err := c.svc.Webhook(r.Context(), s.caller, d.WebhookID); err == nil {
		shown := c.view(v)
		wh, view = &v, &shown
	}
	// A waiting delivery shows the delivery it waits for (its event and
	// status); one that cannot be read is shown by its id alone.
	var blocker *db.Delivery
	var blockerView *deliveryView
	if d.Waiting() && d.WaitingForDelivery != nil {
		if b, err := c.svc.Delivery(r.Context(), s.caller, *d.WaitingForDelivery); err == nil {
			shown := resource.FromDelivery(b.Delivery)
			blocker, blockerView = &b.Delivery, &shown
		}
	}
	// Release is offered where the key is held: on the failed delivery
	// holding it, and on one waiting behind that.
	release := s.Admin() && (holdsKey(&d.Delivery, wh) || holdsKey(blocker, wh))
	c.render(w, r, s, http.StatusOK, "delivery", &page{Error: actionErr, Data: map[string]any{
		"Delivery": resource.FromDeliveryLog(d.Delivery, d.Attempts), "Webhook": view,
		"Blocker": blockerView, "Release": release}})
}

// delivery fetches the route's delivery with its attempts.
func (c *Console) delivery(r *http.Request, s *session) (service.DeliveryLog, error) {
	id, err := service.ParseID(r.PathValue("id"), "delivery")
	if err != nil {
		return service.DeliveryLog{}, err
	}
	return c.svc.Delivery(r.Context(), s.caller, id)
}

// holdsKey reports whether d, a delivery to wh, holds its ordering key: it
// took turns, failed, and the webhook holds a key on failure until the
// delivery is resent and succeeds, or released.
func holdsKey(d *db.Delivery, wh *db.Webhook) bool {
	return d != nil && wh != nil && wh.OnFailure == db.OnFailureHold && d.Ordered && d.Status == delivery.Failed &&
		!d.OrderReleased
}

func (c *Console) resend(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := service.ParseID(r.PathValue("id"), "delivery")
	if err == nil {
		_, _, err = c.svc.Resend(r.Context(), s.caller, id)
	}
	switch e := inPage(err); {
	case err == nil:
		http.Redirect(w, r, "/console/deliveries/"+pathID(r)+"?done=resent", http.StatusSeeOther)
	case e == nil || e.Kind == service.NotFound:
		c.failed(w, r, s, err)
	default:
		c.deliveryWith(w, r, s, e)
	}
}

// release lets the delivery's ordering key go past its webhook's failed
// deliveries (hold on failure): from the page of one of them, or of a
// delivery waiting behind one.
func (c *Console) release(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.delivery(r, s)
	var out service.Released
	if err == nil {
		out, err = c.svc.ReleaseKey(r.Context(), s.caller, d.WebhookID, service.ReleaseInput{OrderingKey: d.OrderingKey})
	}
	switch e := inPage(err); {
	case err == nil:
		done := "released"
		if len(out.Deliveries) == 0 {
			done = "releasedNone" // released meanwhile, or resent
		}
		http.Redirect(w, r, "/console/deliveries/"+pathID(r)+"?done="+done, http.StatusSeeOther)
	case e == nil || e.Kind == service.NotFound:
		c.failed(w, r, s, err)
	default:
		c.deliveryWith(w, r, s, e)
	}
}

// eventTypes is the event catalogue: each type's JSON Schema and sample,
// as GET /v1/event-types shows them.
func (c *Console) eventTypes(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, s, http.StatusOK, "event_types", &page{Data: resource.Catalogue()})
}

func (c *Console) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := c.svc.Event(r.Context(), s.caller, r.PathValue("id"))
	if err != nil {
		c.failed(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "event", &page{Data: resource.FromEvent(e.Event, e.Deliveries)})
}
