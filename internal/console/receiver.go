package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// receiverForm is the receiver options part of the add/edit form: rows of
// custom headers and the receiver's authentication. No secret is ever
// rendered: a secret input left empty keeps the stored value, and what was
// typed into one is dropped when the form comes back with an error.
type receiverForm struct {
	HeaderRows []headerRow
	AuthType   string
	AuthTypes  []string
	Username   string
	TokenURL   string
	ClientID   string
	Scopes     string // space-separated
	Audience   string
	// StoredAuth is the auth type whose secret is stored (edit form): an
	// empty password, token or client secret of that type keeps it.
	StoredAuth string

	// What was typed into the secret inputs: read, never rendered.
	password, token, clientSecret string
}

// headerRow is one row of the headers section.
type headerRow struct {
	Index  int
	Name   string
	Value  string // a plain header's value; never a secret's
	Secret bool
	// Stored: a secret value is stored for this row, kept when its
	// input is left empty.
	Stored bool

	secretValue string // typed into a secret row: never rendered
}

// Rows shown: the headers, at least minHeaderRows, with spareHeaderRows
// empty ones to add more (up to service.MaxHeaders).
const (
	minHeaderRows   = 3
	spareHeaderRows = 2
)

func newReceiverForm() receiverForm {
	rf := receiverForm{AuthType: db.AuthNone, AuthTypes: []string{db.AuthNone, db.AuthBasic, db.AuthBearer, db.AuthOAuth2}}
	rf.pad()
	return rf
}

// pad adds empty header rows and numbers them.
func (rf *receiverForm) pad() {
	want := min(service.MaxHeaders, max(minHeaderRows, len(rf.HeaderRows)+spareHeaderRows))
	for len(rf.HeaderRows) < want {
		rf.HeaderRows = append(rf.HeaderRows, headerRow{})
	}
	for i := range rf.HeaderRows {
		rf.HeaderRows[i].Index = i
	}
}

// readReceiver reads the section from a posted form. A checkbox is sent
// only when checked, so secret and stored rows are named by their index.
func (rf *receiverForm) readReceiver(r *http.Request) {
	names, values := r.PostForm["headerName"], r.PostForm["headerValue"]
	secret, stored := indexSet(r.PostForm["headerSecret"]), indexSet(r.PostForm["headerStored"])
	rf.HeaderRows = nil
	for i, name := range names {
		row := headerRow{Name: strings.TrimSpace(name), Secret: secret[i], Stored: stored[i] && secret[i]}
		if i < len(values) {
			if row.Secret {
				row.secretValue = values[i]
			} else {
				row.Value = values[i]
			}
		}
		if row.Name == "" && row.Value == "" && row.secretValue == "" {
			continue // an empty row
		}
		rf.HeaderRows = append(rf.HeaderRows, row)
	}
	rf.pad()
	rf.AuthType, rf.StoredAuth = r.PostFormValue("authType"), r.PostFormValue("authStored")
	rf.Username, rf.TokenURL = strings.TrimSpace(r.PostFormValue("username")), strings.TrimSpace(r.PostFormValue("tokenUrl"))
	rf.ClientID, rf.Scopes = strings.TrimSpace(r.PostFormValue("clientId")), r.PostFormValue("scopes")
	rf.Audience = strings.TrimSpace(r.PostFormValue("audience"))
	rf.password, rf.token, rf.clientSecret = r.PostFormValue("password"), r.PostFormValue("token"), r.PostFormValue("clientSecret")
}

func indexSet(list []string) map[int]bool {
	out := map[int]bool{}
	for _, s := range list {
		if i, err := strconv.Atoi(s); err == nil {
			out[i] = true
		}
	}
	return out
}

// headers is the section's headers for the service: every row with a
// name; a secret row left empty keeps the stored value.
func (rf *receiverForm) headers() []service.HeaderInput {
	out := []service.HeaderInput{}
	for _, row := range rf.HeaderRows {
		if row.Name == "" && row.Value == "" && row.secretValue == "" {
			continue
		}
		h := service.HeaderInput{Name: row.Name, Secret: row.Secret}
		switch {
		case !row.Secret:
			h.Value = &row.Value
		case row.secretValue != "":
			h.Value = &row.secretValue
		}
		out = append(out, h)
	}
	return out
}

// auth is the section's authentication for the service: the fields of
// the chosen type only; an empty secret keeps the stored one.
func (rf *receiverForm) auth() *service.AuthInput {
	a := &service.AuthInput{Type: rf.AuthType}
	switch rf.AuthType {
	case db.AuthBasic:
		a.Username, a.Password = rf.Username, nonEmpty(rf.password)
	case db.AuthBearer:
		a.Token = nonEmpty(rf.token)
	case db.AuthOAuth2:
		a.TokenURL, a.ClientID, a.Audience = rf.TokenURL, rf.ClientID, rf.Audience
		a.Scopes, a.ClientSecret = strings.Fields(rf.Scopes), nonEmpty(rf.clientSecret)
	}
	return a
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fillReceiver shows a webhook's options in the edit form.
func (rf *receiverForm) fillReceiver(wh resource.Webhook) {
	rf.HeaderRows = nil
	for _, h := range wh.Headers {
		row := headerRow{Name: h.Name, Secret: h.Secret, Stored: h.Secret}
		if h.Value != nil {
			row.Value = *h.Value
		}
		rf.HeaderRows = append(rf.HeaderRows, row)
	}
	rf.pad()
	a := wh.Auth
	rf.AuthType, rf.Username, rf.TokenURL, rf.ClientID, rf.Audience = a.Type, a.Username, a.TokenURL, a.ClientID, a.Audience
	rf.Scopes = strings.Join(a.Scopes, " ")
	if a.Type != db.AuthNone {
		rf.StoredAuth = a.Type
	}
}
