package console_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserFilter: the form's payload filter and its test box ("would
// this sample match?"): the sample starts as an event of the first
// subscribed type; a match, no match, an evaluation error and a filter
// that does not compile (with its line and column) are answered in place
// — the page stays, with what was typed in it, a secret included —;
// Enter in a field saves rather than tests; a bad filter is refused on
// save; the details page and the edit form show the filter.
func TestBrowserFilter(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		click("#add-webhook"), visible("#webhook-form"))
	if v := value(t, ctx, "#filterSample"); !strings.Contains(v, `"ENVELOPE_START"`) || !strings.Contains(v, `"envelopeId"`) {
		t.Fatalf("the sample to start with: %q", v)
	}
	do(t, ctx, keys("#name", "Envelopes A"), keys("#url", "https://crm.example.com/esign"), click("#et-ENVELOPE_FINISH"),
		keys("#filter", `event.data.envelopeId.startsWith("A") && event.type == "ENVELOPE_FINISH"`),
		setv("#authType", "bearer"), js(`document.querySelector("#authType").dispatchEvent(new Event("change"))`),
		visible("#token"), keys("#token", "tok-kept-in-page"),
		click("#filter-test summary"), visible("#filterSample"),
		setv("#filterSample", `{"type": "ENVELOPE_FINISH", "triggerSource": "saas_page", "data": {"envelopeId": "A-7"}}`),
		click("#test-filter"), waitText("#filter-result", "It matches"))
	screenshot(t, ctx, "add-filter")
	mustContain(t, "cost", text(t, ctx, "#filter-result"), "of the limit 100000")
	if v := value(t, ctx, "#token"); v != "tok-kept-in-page" {
		t.Fatalf("the test reloaded the page: the token box holds %q", v)
	}
	do(t, ctx, setv("#filterSample", `{"type": "ENVELOPE_FINISH", "data": {"envelopeId": "B-7"}}`),
		click("#test-filter"), waitText("#filter-result", "No match"))
	do(t, ctx, setv("#filterSample", `{"type": "ENVELOPE_FINISH", "data": {"title": "NDA"}}`),
		click("#test-filter"), waitText("#filter-result", "cannot be evaluated"))
	mustContain(t, "evaluation error", text(t, ctx, "#filter-eval-error"), "no such key: envelopeId")
	do(t, ctx, setv("#filter", `event.dta.envelopeId == "A"`), click("#test-filter"), visible("#filter-error"))
	mustContain(t, "compile error", text(t, ctx, "#filter-error"), "line 1, column 6: undefined field 'dta'")
	do(t, ctx, setv("#filterSample", `{"type": "ENVELOPE_FINISH", "colour": "red"}`), click("#test-filter"),
		visible("#filterSample-error"))
	mustContain(t, "sample error", text(t, ctx, "#filterSample-error"), "is not an event in JSON")

	// Saving: the bad filter is refused beside the field, the good one
	// saved with Enter in the name box.
	do(t, ctx, click("#save"), visible("#filter-error"))
	mustContain(t, "save refused", text(t, ctx, "#filter-error"), "undefined field 'dta'")
	do(t, ctx, setv("#filter", `event.data.envelopeId.startsWith("A")`), setv("#authType", "none"),
		keys("#name", "\r"), visible("#secret"),
		click(`main a.button[href^="/console/webhooks/"]`), visible("#send-test"))
	mustContain(t, "details", text(t, ctx, "#filter"), `event.data.envelopeId.startsWith("A")`)
	do(t, ctx, click("#disable"), visible("#edit"), click("#edit"), visible("#webhook-form"))
	if v := value(t, ctx, "#filter"); v != `event.data.envelopeId.startsWith("A")` {
		t.Fatalf("edit form: filter %q", v)
	}
	mustContain(t, "edit sample", value(t, ctx, "#filterSample"), `"ENVELOPE_FINISH"`)
	// Emptied, the filter is removed.
	do(t, ctx, js(`document.querySelector("#filter").value = ""`), click("#save"), visible("#enable"))
	mustContain(t, "no filter", text(t, ctx, "#filter"), "None")
}

// TestFilterTestWithoutScript: without JavaScript the test button sends
// the form, which comes back with the verdict, the entries kept and
// nothing saved; in Chinese too.
func TestFilterTestWithoutScript(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	c := s.signIn(t, key, "admin")
	_, page := c.fetch("GET", "/console/webhooks/new", nil)
	form := url.Values{"csrf": {between(page, `name="csrf" value="`, `"`)}, "name": {"no script"},
		"url": {"https://crm.example.com/esign"}, "eventTypes": {"ENVELOPE_START"}, "triggerSources": {"saas_page"},
		"orderedOnFailure": {"continue"}, "payload": {"full"}, "authType": {"none"}, "action": {"test-filter"},
		"filter":       {`event.data.envelopeStatus >= 2`},
		"filterSample": {`{"type": "ENVELOPE_START", "data": {"envelopeStatus": 3}}`}}
	status, page := c.fetch("POST", "/console/webhooks/new", form)
	if status != http.StatusOK || !strings.Contains(page, `id="filter-matches"`) ||
		!strings.Contains(html.UnescapeString(page), `event.data.envelopeStatus >= 2`) {
		t.Fatalf("test without script: %d\n%s", status, page)
	}
	var n int
	if err := s.store.DB().Get(&n, `SELECT count(*) FROM webhooks`); err != nil || n != 0 {
		t.Fatalf("the test saved: %d webhooks (%v)", n, err)
	}
	form.Set("filter", `event.data.envelopeStatus >= 4`)
	req, _ := http.NewRequest("POST", s.srv.URL+"/console/webhooks/new", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "zh-CN")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, res.Body)
	if !strings.Contains(buf.String(), "不匹配") {
		t.Fatalf("no match in Chinese: %s", buf)
	}
}
