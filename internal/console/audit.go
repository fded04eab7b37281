package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// auditRow is a record of the audit log as the page shows it: each
// change a line, a secret's only as changed.
type auditRow struct {
	db.AuditEntry
	Lines   []changeLine
	Details string // JSON, "" when there are none
}

type changeLine struct {
	Field, Before, After string
	Secret               bool
}

func auditRowOf(e db.AuditEntry) auditRow {
	row := auditRow{AuditEntry: e}
	fields := make([]string, 0, len(e.Changes))
	for f := range e.Changes {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	for _, f := range fields {
		ch := e.Changes[f]
		row.Lines = append(row.Lines, changeLine{Field: f, Before: string(ch.Before), After: string(ch.After), Secret: ch.Changed})
	}
	if len(e.Details) > 0 {
		b, _ := json.MarshalIndent(e.Details, "", "  ") // read from jsonb: cannot fail
		row.Details = string(b)
	}
	return row
}

// auditLog is the account's audit log (admins), narrowed as the API's
// GET /v1/audit-log is: by action, actor and resource id.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	q := service.AuditQuery{PageQuery: service.PageQuery{Limit: 50, Cursor: in.Get("cursor")},
		Action: in.Get("action"), Actor: strings.TrimSpace(in.Get("actor")), ResourceID: strings.TrimSpace(in.Get("resourceId"))}
	pg, err := c.svc.AuditLog(r.Context(), s.caller, q)
	var inErr *service.Error
	if err != nil {
		if inErr = inPage(err); inErr == nil {
			c.failed(w, r, s, err)
			return
		}
	}
	rows := make([]auditRow, 0, len(pg.Items))
	for _, e := range pg.Items {
		rows = append(rows, auditRowOf(e))
	}
	next := ""
	if pg.Next != "" {
		nq := url.Values{"cursor": {pg.Next}}
		for _, k := range []string{"action", "actor", "resourceId"} {
			if v := in.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		next = "/console/audit-log?" + nq.Encode()
	}
	status := http.StatusOK
	if inErr != nil {
		status = inErr.Kind.Status()
	}
	c.render(w, r, s, status, "audit", &page{Error: inErr, Data: map[string]any{
		"Rows": rows, "Next": next, "Actions": service.AuditActions, "Query": q}})
}
