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
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
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
	m.HandleFunc("GET /console/webhooks/{id}/deliveries", c.auth(c.deliveries))
	m.HandleFunc("POST /console/webhooks/{id}/deliveries", c.auth(c.resendFailed))
	m.HandleFunc("GET /console/deliveries/{id}", c.auth(c.deliveryPage))
	m.HandleFunc("POST /console/deliveries/{id}/resend", c.auth(c.resend))
	m.HandleFunc("GET /console/events/{id}", c.auth(c.eventPage))
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

// The pages read the API's answers in the API's own types.
type (
	webhook      = resource.Webhook
	deliveryView = resource.Delivery
	eventView    = resource.Event
)

// pathID is the {id} of the route, escaped for an API path.
func pathID(r *http.Request) string { return url.PathEscape(r.PathValue("id")) }

// login exchanges a one-time link for a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	sess, id, err := c.store.UseConsoleLink(r.Context(), r.URL.Query().Get("token"), c.now(), c.cfg.ConsoleSessionMax)
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
	c.log.Info("console: signed in", "accountId", sess.AccountID, "role", sess.Role)
	c.setCookie(w, id)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.store.DeleteConsoleSession(r.Context(), s.id); err != nil {
		c.fail(w, r, s, err)
		return
	}
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
	path := "/v1/webhooks?limit=50"
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		path += "&cursor=" + url.QueryEscape(cur)
	}
	var pg struct {
		Data       []webhook `json:"data"`
		NextCursor *string   `json:"nextCursor"`
	}
	if !c.getJSON(w, r, s, path, &pg) {
		return
	}
	rows := make([]listRow, len(pg.Data))
	for i, wh := range pg.Data {
		rows[i].webhook = wh
		last, err := c.call(r.Context(), s, "GET", "/v1/deliveries?limit=1&webhookId="+url.QueryEscape(wh.ID), nil)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		var ds struct {
			Data []deliveryView `json:"data"`
		}
		if last.OK() && last.Decode(&ds) == nil && len(ds.Data) > 0 {
			rows[i].Last = &ds.Data[0]
		}
	}
	next := ""
	if pg.NextCursor != nil {
		next = *pg.NextCursor
	}
	c.render(w, r, s, http.StatusOK, "list", &page{Data: map[string]any{"Rows": rows, "Next": next}})
}

// form is the add/edit form: what was entered, and the API's field errors.
type form struct {
	ID             string
	Name           string
	URL            string
	EventTypes     []string
	TriggerSources []string
	AppIDs         string
	Fields         map[string]string
	Catalogue      []events.TypeInfo
	System         []events.TypeInfo
	Sources        []events.TypeInfo
}

func newForm() *form {
	return &form{Catalogue: events.Catalogue, System: events.SystemCatalogue, Sources: events.TriggerSources}
}

func (f *form) read(r *http.Request) {
	f.Name, f.URL = r.PostFormValue("name"), strings.TrimSpace(r.PostFormValue("url"))
	f.EventTypes = nonNil(r.PostForm["eventTypes"])
	f.TriggerSources = nonNil(r.PostForm["triggerSources"])
	f.AppIDs = r.PostFormValue("appIds")
}

// body is the JSON the REST API takes for the form. APPIDs count only with
// the third-party trigger source, one per line or separated by commas.
func (f *form) body() map[string]any {
	appIDs := []string{}
	if has(f.TriggerSources, events.SourceThirdPartyApp) {
		for _, a := range strings.FieldsFunc(f.AppIDs, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			if a = strings.TrimSpace(a); a != "" {
				appIDs = append(appIDs, a)
			}
		}
	}
	return map[string]any{"name": f.Name, "url": f.URL, "eventTypes": f.EventTypes,
		"triggerSources": f.TriggerSources, "appIds": appIDs}
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
	// The API says whether this plan has webhooks: ask it.
	res, err := c.call(r.Context(), s, "GET", "/v1/webhooks?limit=1", nil)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		c.apiFailed(w, r, s, res)
		return
	}
	f := newForm()
	f.TriggerSources = []string{events.SourceSaaSPage}
	c.render(w, r, s, http.StatusOK, "form", &page{Data: f})
}

// formFailed renders the form again with the API's errors: next to each
// field when it names fields, above the form otherwise.
func (c *Console) formFailed(w http.ResponseWriter, r *http.Request, s *session, f *form, res apiResult) {
	e := res.Err()
	if e.Code == "plan_not_supported" {
		c.apiFailed(w, r, s, res)
		return
	}
	f.Fields = e.Fields
	p := &page{Data: f}
	if len(e.Fields) == 0 {
		p.Error = e
	}
	c.render(w, r, s, res.Status, "form", p)
}

func (c *Console) create(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	f.read(r)
	res, err := c.call(r.Context(), s, "POST", "/v1/webhooks", f.body())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		c.formFailed(w, r, s, f, res)
		return
	}
	var out struct {
		webhook
		Secret string `json:"secret"`
	}
	if err := res.Decode(&out); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusCreated, "secret", &page{Data: map[string]any{
		"Webhook": out.webhook, "Secret": out.Secret, "Created": true}})
}

// webhook fetches one webhook, rendering the API's error when it cannot.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request, s *session) (webhook, bool) {
	var wh webhook
	if !c.getJSON(w, r, s, "/v1/webhooks/"+pathID(r), &wh) {
		return webhook{}, false
	}
	return wh, true
}

// detailsData is the details page: the webhook, and what an action on it
// just showed (the secret, a test's answer).
type detailsData struct {
	Webhook webhook
	Secret  string
	Test    *testResult
}

type testResult struct {
	Success    bool   `json:"success"`
	StatusCode int    `json:"statusCode"`
	DurationMS int    `json:"durationMs"`
	Error      string `json:"error"`
	DeliveryID string `json:"deliveryId"`
	EventID    string `json:"eventId"`
	Message    string `json:"-"`
}

func (c *Console) details(w http.ResponseWriter, r *http.Request, s *session) {
	if wh, ok := c.webhook(w, r, s); ok {
		c.render(w, r, s, http.StatusOK, "details", &page{Data: detailsData{Webhook: wh}})
	}
}

func (c *Console) revealSecret(w http.ResponseWriter, r *http.Request, s *session) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if !c.getJSON(w, r, s, "/v1/webhooks/"+pathID(r)+"/secret", &out) {
		return
	}
	c.render(w, r, s, http.StatusOK, "details", &page{Data: detailsData{Webhook: wh, Secret: out.Secret}})
}

func (c *Console) test(w http.ResponseWriter, r *http.Request, s *session) {
	res, err := c.call(r.Context(), s, "POST", "/v1/webhooks/"+pathID(r)+"/test", nil)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	t := &testResult{}
	var out struct {
		testResult
		Attempt *testResult `json:"attempt"`
		Error   *apiError   `json:"error"`
	}
	_ = res.Decode(&out)
	switch {
	case res.OK():
		*t = out.testResult
	case out.Attempt != nil:
		*t = *out.Attempt
		t.Message = out.Error.Message
	default:
		if res.Err().Code == "forbidden" {
			c.apiFailed(w, r, s, res)
			return
		}
		t.Message = res.Err().Message
	}
	c.render(w, r, s, http.StatusOK, "details", &page{Data: detailsData{Webhook: wh, Test: t}})
}

func (c *Console) editForm(w http.ResponseWriter, r *http.Request, s *session) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	f := newForm()
	f.ID, f.Name, f.URL, f.EventTypes, f.TriggerSources = wh.ID, wh.Name, wh.URL, wh.EventTypes, wh.TriggerSources
	f.AppIDs = strings.Join(wh.AppIDs, "\n")
	p := &page{Data: f}
	if wh.Enabled() {
		// The API refuses the save; say so before the admin types.
		p.Error = &apiError{Message: p.tr(c, r, "edit.enabled")}
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
	res, err := c.call(r.Context(), s, "PATCH", "/v1/webhooks/"+pathID(r), f.body())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		c.formFailed(w, r, s, f, res)
		return
	}
	http.Redirect(w, r, "/console/webhooks/"+pathID(r)+"?done=saved", http.StatusSeeOther)
}

func (c *Console) setEnabled(on bool) handler {
	action, done := "disable", "disabled"
	if on {
		action, done = "enable", "enabled"
	}
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		res, err := c.call(r.Context(), s, "POST", "/v1/webhooks/"+pathID(r)+"/"+action, nil)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if !res.OK() {
			c.apiFailed(w, r, s, res)
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
	res, err := c.call(r.Context(), s, "DELETE", "/v1/webhooks/"+pathID(r)+"?confirm="+url.QueryEscape(wh.ID), nil)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		c.render(w, r, s, res.Status, "delete", &page{Error: res.Err(), Data: map[string]any{"Webhook": wh}})
		return
	}
	http.Redirect(w, r, "/console/?done=deleted", http.StatusSeeOther)
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
	res, err := c.call(r.Context(), s, "POST", "/v1/webhooks/"+pathID(r)+"/secret/reset", map[string]int{"gracePeriodSeconds": grace})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		c.apiFailed(w, r, s, res)
		return
	}
	var out struct {
		Webhook    webhook    `json:"webhook"`
		Secret     string     `json:"secret"`
		PrevExpiry *time.Time `json:"previousSecretExpiresAt"`
	}
	if err := res.Decode(&out); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "secret", &page{Data: map[string]any{
		"Webhook": out.Webhook, "Secret": out.Secret, "PreviousUntil": out.PrevExpiry}})
}

// deliveryStatuses are the delivery log's filter values.
var deliveryStatuses = []string{"pending", "retrying", "succeeded", "failed", "cancelled", "skipped_disabled"}

// resendWindows are the "resend failed since…" choices.
var resendWindows = []string{"1h", "24h", "168h", "720h"}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	c.deliveriesWith(w, r, s, http.StatusOK, nil)
}

// deliveriesWith renders a webhook's delivery log, with the outcome of a
// bulk resend when there was one.
func (c *Console) deliveriesWith(w http.ResponseWriter, r *http.Request, s *session, status int, resent *bulkResult) {
	wh, ok := c.webhook(w, r, s)
	if !ok {
		return
	}
	q := url.Values{"webhookId": {wh.ID}, "limit": {"50"}}
	filter := r.URL.Query().Get("status")
	if has(deliveryStatuses, filter) {
		q.Set("status", filter)
	}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var pg struct {
		Data       []deliveryView `json:"data"`
		NextCursor *string        `json:"nextCursor"`
	}
	if !c.getJSON(w, r, s, "/v1/deliveries?"+q.Encode(), &pg) {
		return
	}
	next := ""
	if pg.NextCursor != nil {
		nq := url.Values{"cursor": {*pg.NextCursor}}
		if filter != "" {
			nq.Set("status", filter)
		}
		next = "/console/webhooks/" + url.PathEscape(wh.ID) + "/deliveries?" + nq.Encode()
	}
	c.render(w, r, s, status, "deliveries", &page{Data: map[string]any{
		"Webhook": wh, "Deliveries": pg.Data, "Next": next, "Filter": filter, "Statuses": deliveryStatuses,
		"Windows": resendWindows, "Resent": resent}})
}

type bulkResult struct {
	Resent []string `json:"resent"`
	Errors []struct {
		DeliveryID string `json:"deliveryId"`
		Message    string `json:"message"`
	} `json:"errors"`
	More  bool      `json:"more"`
	Error *apiError `json:"-"`
}

func (c *Console) resendFailed(w http.ResponseWriter, r *http.Request, s *session) {
	window, err := time.ParseDuration(r.PostFormValue("since"))
	if err != nil || !has(resendWindows, r.PostFormValue("since")) {
		window = 24 * time.Hour
	}
	res, err := c.call(r.Context(), s, "POST", "/v1/deliveries/resend", map[string]any{
		"webhookId": r.PathValue("id"), "status": "failed", "since": c.now().Add(-window).UTC()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	out := &bulkResult{}
	if res.OK() {
		if err := res.Decode(out); err != nil {
			c.fail(w, r, s, err)
			return
		}
	} else {
		if res.Err().Code == "forbidden" {
			c.apiFailed(w, r, s, res)
			return
		}
		out.Error = res.Err()
	}
	c.deliveriesWith(w, r, s, http.StatusOK, out)
}

func (c *Console) deliveryPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.deliveryWith(w, r, s, nil)
}

func (c *Console) deliveryWith(w http.ResponseWriter, r *http.Request, s *session, resendErr *apiError) {
	var d deliveryView
	if !c.getJSON(w, r, s, "/v1/deliveries/"+pathID(r), &d) {
		return
	}
	var wh *webhook
	if wr, err := c.call(r.Context(), s, "GET", "/v1/webhooks/"+url.PathEscape(d.WebhookID), nil); err == nil && wr.OK() {
		var v webhook
		if wr.Decode(&v) == nil {
			wh = &v
		}
	}
	c.render(w, r, s, http.StatusOK, "delivery", &page{Error: resendErr, Data: map[string]any{"Delivery": d, "Webhook": wh}})
}

func (c *Console) resend(w http.ResponseWriter, r *http.Request, s *session) {
	res, err := c.call(r.Context(), s, "POST", "/v1/deliveries/"+pathID(r)+"/resend", nil)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !res.OK() {
		if res.Err().Code == "forbidden" || res.Status == http.StatusNotFound {
			c.apiFailed(w, r, s, res)
			return
		}
		c.deliveryWith(w, r, s, res.Err())
		return
	}
	http.Redirect(w, r, "/console/deliveries/"+pathID(r)+"?done=resent", http.StatusSeeOther)
}

func (c *Console) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	var e eventView
	if !c.getJSON(w, r, s, "/v1/events/"+pathID(r), &e) {
		return
	}
	c.render(w, r, s, http.StatusOK, "event", &page{Data: e})
}

// getJSON GETs path from the API as the session's caller and decodes the
// answer into dst; on any failure it renders the error page and reports
// false.
func (c *Console) getJSON(w http.ResponseWriter, r *http.Request, s *session, path string, dst any) bool {
	res, err := c.call(r.Context(), s, "GET", path, nil)
	if err != nil {
		c.fail(w, r, s, err)
		return false
	}
	if !res.OK() {
		c.apiFailed(w, r, s, res)
		return false
	}
	if err := res.Decode(dst); err != nil {
		c.fail(w, r, s, err)
		return false
	}
	return true
}
