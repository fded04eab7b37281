package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// consoleRecords are the account's records, newest first, from the table.
func consoleRecords(t *testing.T, s *stack, acct uuid.UUID) []db.AuditEntry {
	t.Helper()
	var rows []db.AuditEntry
	if err := s.store.DB().Select(&rows, `SELECT * FROM audit_log WHERE account_id = $1 ORDER BY at DESC, id DESC`, acct); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestConsoleAudited: signing in and out, and a change made in the
// console, are on record with the console session as the actor (a
// reference, never the cookie) and the client's address; a member may
// not read the log.
func TestConsoleAudited(t *testing.T) {
	s := newStack(t, false)
	acct, key := s.account("professional")
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "CRM", "url": "http://127.0.0.1:9/hook",
		"eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"}}, http.StatusCreated, &hook)

	c := s.signIn(t, key, "admin")
	rows := consoleRecords(t, s, acct)
	in := rows[0]
	if in.Action != "console.sign_in" || in.ActorType != "console" || in.ActorRole != "admin" ||
		!strings.HasPrefix(in.ActorID, "cs_") || in.ResourceID != in.ActorID || in.ClientAddr != "127.0.0.1" {
		t.Fatalf("sign-in record: %+v", in)
	}
	cookie := c.hc.Jar.Cookies(mustURL(t, s.srv.URL+"/console/"))[0].Value
	if strings.Contains(in.ActorID, cookie) || strings.Contains(cookie, strings.TrimPrefix(in.ActorID, "cs_")) {
		t.Fatal("the session reference is part of its cookie")
	}

	_, page := c.fetch("GET", "/console/webhooks/"+hook.ID, nil)
	tok := between(page, `name="csrf" value="`, `"`)
	if st, _ := c.fetch("POST", "/console/webhooks/"+hook.ID+"/disable", url.Values{"csrf": {tok}}); st != http.StatusOK && st != http.StatusSeeOther {
		t.Fatalf("disable: HTTP %d", st)
	}
	dis := consoleRecords(t, s, acct)[0]
	if dis.Action != "webhook.disable" || dis.ActorID != in.ActorID || dis.ResourceID != hook.ID ||
		string(dis.Changes["status"].After) != `"disabled"` {
		t.Fatalf("disable record: %+v", dis)
	}
	st, page := c.fetch("GET", "/console/audit-log?resourceId="+hook.ID, nil)
	table := between(page, `<table class="list" id="audit">`, `</table>`) // the filter's options name every action
	if st != http.StatusOK || !strings.Contains(table, "Webhook disabled") || !strings.Contains(table, "Webhook created") ||
		strings.Contains(table, "Signed in to the console") || !strings.Contains(table, in.ActorID) {
		t.Fatalf("the webhook's audit page: HTTP %d\n%.3000s", st, table)
	}
	if st, page := c.fetch("GET", "/console/audit-log?action=webhook.explode", nil); st != http.StatusUnprocessableEntity ||
		!strings.Contains(page, `role="alert"`) {
		t.Fatalf("a bad filter: HTTP %d\n%.2000s", st, page)
	}

	if st, _ := c.fetch("POST", "/console/logout", url.Values{"csrf": {tok}}); st != http.StatusOK {
		t.Fatalf("sign-out: HTTP %d", st)
	}
	out := consoleRecords(t, s, acct)[0]
	if out.Action != "console.sign_out" || out.ActorID != in.ActorID || out.ResourceID != in.ActorID {
		t.Fatalf("sign-out record: %+v", out)
	}

	m := s.signIn(t, key, "member")
	if st, _ := m.fetch("GET", "/console/audit-log", nil); st != http.StatusForbidden {
		t.Fatalf("a member read the audit log: HTTP %d", st)
	}
	if got := consoleRecords(t, s, acct)[0]; got.Action != "console.sign_in" || got.ActorRole != "member" {
		t.Fatalf("member sign-in record: %+v", got)
	}
}

// TestBrowserAuditLog: the audit page in both languages, reached from
// the header, with a secret change shown only as changed.
func TestBrowserAuditLog(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	var hook struct {
		ID string `json:"id"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "CRM", "url": "http://127.0.0.1:9/hook",
		"eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"}, "enabled": false}, http.StatusCreated, &hook)
	s.api("PATCH", "/v1/webhooks/"+hook.ID, key, map[string]any{"url": "http://127.0.0.1:9/v2"}, http.StatusOK, nil)
	s.api("POST", "/v1/webhooks/"+hook.ID+"/secret/reset", key, map[string]any{}, http.StatusOK, nil)

	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#nav-audit"), click("#nav-audit"), visible("#audit"))
	table := text(t, ctx, "#audit")
	for _, want := range []string{"Signing secret reset", "changed (secret, not recorded)", "Webhook edited",
		`"http://127.0.0.1:9/hook"`, `"http://127.0.0.1:9/v2"`, "Signed in to the console", "API key"} {
		mustContain(t, "audit page", table, want)
	}
	screenshot(t, ctx, "audit-log")
	do(t, ctx, setv("#action", "webhook.update"), click("#audit-filter button"),
		waitJS(`location.search.includes("action=webhook.update") && document.querySelectorAll("#audit tr.audit-row").length === 1`))
	mustContain(t, "filtered", text(t, ctx, "#audit"), "Webhook edited")
	do(t, ctx, click("#lang-zh"), waitText("h1", "审计日志"))
	mustContain(t, "zh-CN audit page", text(t, ctx, "#audit"), "编辑了 Webhook")
	screenshot(t, ctx, "audit-log-zh")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
