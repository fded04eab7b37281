package service

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// The receiver options of a webhook (issue 19): custom headers and the
// receiver's authentication, as the API and the console send them, their
// rules, and how they are stored (every secret sealed, never returned).

// HeaderInput is one custom header of a webhook.
type HeaderInput struct {
	Name string `json:"name"`
	// Value is required, except for a secret header being edited: left
	// out (or null), it keeps the value stored for the header of the same
	// name that is secret already.
	Value *string `json:"value,omitempty"`
	// Secret: the value is encrypted at rest and never shown again.
	Secret bool `json:"secret,omitempty"`
}

// AuthInput is how a receiver authenticates our requests: Type none,
// basic (Username, Password), bearer (Token) or oauth2, the client
// credentials grant (TokenURL, ClientID, ClientSecret, Scopes, Audience).
// A secret (Password, Token, ClientSecret) left out of an edit keeps the
// stored one while the type stays the same.
type AuthInput struct {
	Type         string   `json:"type"`
	Username     string   `json:"username,omitempty"`
	Password     *string  `json:"password,omitempty"`
	Token        *string  `json:"token,omitempty"`
	TokenURL     string   `json:"tokenUrl,omitempty"`
	ClientID     string   `json:"clientId,omitempty"`
	ClientSecret *string  `json:"clientSecret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
}

// String keeps the secrets out of anything printed with fmt.
func (a AuthInput) String() string { return "auth(" + a.Type + ")" }

// LogValue keeps the secrets out of logs.
func (a AuthInput) LogValue() slog.Value { return slog.StringValue(a.String()) }

// String keeps a secret value out of anything printed with fmt.
func (h HeaderInput) String() string {
	if h.Secret {
		return h.Name + ": (secret)"
	}
	if h.Value == nil {
		return h.Name + ":"
	}
	return h.Name + ": " + *h.Value
}

// Bounds of the receiver options.
const (
	MaxHeaders        = 20
	maxHeaderName     = 100
	maxHeaderValue    = 4096 // bytes
	maxAuthSecret     = 4096 // bytes
	maxAuthName       = 256  // username, client id
	maxScopes         = 20
	maxScope          = 200
	maxAudienceLength = 2048
)

// receiverEdit is the receiver options of a create or an edit; nil
// fields keep what is stored.
type receiverEdit struct {
	Headers []HeaderInput
	Auth    *AuthInput
	TLS     *TLSInput
}

func (e receiverEdit) changes() bool { return e.Headers != nil || e.Auth != nil || e.TLS != nil }

// checkReceiver applies the rules to e and returns the field errors, or
// nil. cur is what is stored; nil when it is not known yet (an edit
// before its row is locked), which leaves out the rules about kept
// secrets and the other, unchanged option.
func (s *Service) checkReceiver(e receiverEdit, cur *db.Receiver) error {
	fields := map[string]string{}
	authType := ""
	if e.Auth != nil {
		s.checkAuth(*e.Auth, cur, fields)
		authType = e.Auth.Type
	} else if cur != nil {
		authType = cur.AuthType
	}
	if e.TLS != nil {
		s.checkTLS(*e.TLS, cur, fields)
	}
	if e.Headers != nil {
		if msg := checkHeaders(e.Headers, authType, cur); msg != "" {
			fields["headers"] = msg
		}
	} else if cur != nil && e.Auth != nil && authType != db.AuthNone {
		if h, ok := cur.Headers.Find("Authorization"); ok {
			fields["auth"] = fmt.Sprintf("conflicts with the custom header %q: remove the header first", h.Name)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return invalidFields(fields)
}

// senderHeaders are the headers a webhook may not set, and why: the
// sender's own (the signature, what describes the body, who sends it)
// and the hop-by-hop ones, which belong to one connection.
var senderHeaders = map[string]string{
	"webhook-id":        "the sender signs with it (Standard Webhooks)",
	"webhook-timestamp": "the sender signs with it (Standard Webhooks)",
	"webhook-signature": "the sender signs with it (Standard Webhooks)",
	"host":              "it comes from the URL",
	"content-type":      "the sender sets it (application/json)",
	"content-length":    "the sender sets it from the body",
	"content-encoding":  "the body is sent as it is signed",
	"user-agent":        "it names the sender (esign-webhooks)",
	"expect":            "the sender does not wait for 100 Continue",
	"connection":        "it is a hop-by-hop header",
	"keep-alive":        "it is a hop-by-hop header",
	"te":                "it is a hop-by-hop header",
	"trailer":           "it is a hop-by-hop header",
	"transfer-encoding": "it is a hop-by-hop header",
	"upgrade":           "it is a hop-by-hop header",
}

// checkHeaders checks a list of custom headers under auth type authType
// ("" when not known) and returns what is wrong with it, or "".
func checkHeaders(hs []HeaderInput, authType string, cur *db.Receiver) string {
	if len(hs) > MaxHeaders {
		return fmt.Sprintf("must have at most %d items", MaxHeaders)
	}
	var problems []string
	seen := map[string]bool{}
	for _, h := range hs {
		p := checkHeaderName(h.Name, authType)
		if p == "" && seen[strings.ToLower(h.Name)] {
			p = fmt.Sprintf("header %q is listed twice", h.Name)
		}
		seen[strings.ToLower(h.Name)] = true
		if p == "" {
			p = checkHeaderValue(h, cur)
		}
		if p != "" {
			problems = append(problems, p)
		}
	}
	return strings.Join(problems, "; ")
}

func checkHeaderName(name, authType string) string {
	lower := strings.ToLower(name)
	switch {
	case name == "":
		return "a header needs a name"
	case len(name) > maxHeaderName:
		return fmt.Sprintf("header name %.20q… is longer than %d characters", name, maxHeaderName)
	case !isToken(name):
		return fmt.Sprintf("header name %q is invalid: letters, digits and !#$%%&'*+-.^_`|~ only", name)
	case senderHeaders[lower] != "":
		return fmt.Sprintf("header %q cannot be set: %s", name, senderHeaders[lower])
	case strings.HasPrefix(lower, "proxy-"):
		return fmt.Sprintf("header %q cannot be set: it is a hop-by-hop header", name)
	case lower == "authorization" && authType != "" && authType != db.AuthNone:
		return fmt.Sprintf("header %q cannot be set: the receiver authentication (auth, %s) sets it", name, authType)
	}
	return ""
}

// checkHeaderValue checks a header's value; a secret one left out must
// have a stored value to keep (when cur is known).
func checkHeaderValue(h HeaderInput, cur *db.Receiver) string {
	if h.Value == nil {
		if !h.Secret {
			return fmt.Sprintf("header %q needs a value", h.Name)
		}
		if cur != nil && !hasSecretHeader(*cur, h.Name) {
			return fmt.Sprintf("header %q needs a value (no secret value is stored for it to keep)", h.Name)
		}
		return ""
	}
	v := *h.Value
	switch {
	case h.Secret && v == "":
		return fmt.Sprintf("header %q needs a value: leave value out to keep the stored one", h.Name)
	case len(v) > maxHeaderValue:
		return fmt.Sprintf("the value of header %q is longer than %d bytes", h.Name, maxHeaderValue)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }):
		// CR and LF would split the header; Go refuses NUL and the rest.
		return fmt.Sprintf("the value of header %q must not contain control characters (CR, LF, NUL …)", h.Name)
	}
	return ""
}

func hasSecretHeader(cur db.Receiver, name string) bool {
	h, ok := cur.Headers.Find(name)
	return ok && h.Secret && h.ValueEnc != nil
}

// isToken reports whether s is an HTTP token (RFC 7230 §3.2.6), the
// syntax of a header name.
func isToken(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII || !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return s != ""
}

// authFields are AuthInput's fields other than type, by JSON name: which
// are set, and which each type uses.
func authFields(a AuthInput) map[string]bool {
	return map[string]bool{
		"username": a.Username != "", "password": a.Password != nil, "token": a.Token != nil,
		"tokenUrl": a.TokenURL != "", "clientId": a.ClientID != "", "clientSecret": a.ClientSecret != nil,
		"scopes": len(a.Scopes) > 0, "audience": a.Audience != "",
	}
}

var authUses = map[string][]string{
	db.AuthNone:   nil,
	db.AuthBasic:  {"username", "password"},
	db.AuthBearer: {"token"},
	db.AuthOAuth2: {"tokenUrl", "clientId", "clientSecret", "scopes", "audience"},
}

// checkAuth adds the field errors of a into fields.
func (s *Service) checkAuth(a AuthInput, cur *db.Receiver, fields map[string]string) {
	uses, ok := authUses[a.Type]
	if !ok {
		fields["auth.type"] = "must be one of: none, basic, bearer, oauth2"
		return
	}
	for name, set := range authFields(a) {
		if set && !contains(uses, name) {
			fields["auth."+name] = "is not used by auth type " + a.Type
		}
	}
	// A secret left out keeps the stored one of the same type.
	keeps := cur == nil || (cur.AuthType == a.Type && cur.AuthSecretEnc != nil)
	switch a.Type {
	case db.AuthBasic:
		setIf(fields, "auth.username", checkUsername(a.Username))
		setIf(fields, "auth.password", checkSecret(a.Password, keeps, false))
	case db.AuthBearer:
		setIf(fields, "auth.token", checkSecret(a.Token, keeps, true))
	case db.AuthOAuth2:
		s.checkOAuth2(a, keeps, fields)
	}
}

func (s *Service) checkOAuth2(a AuthInput, keeps bool, fields map[string]string) {
	if a.TokenURL == "" {
		fields["auth.tokenUrl"] = "is required"
	} else if err := s.checkCallbackURL(a.TokenURL); err != nil {
		// The token endpoint is dialled through the same SSRF guard as
		// the receiver: the same early, clear answer.
		fields["auth.tokenUrl"] = err.Error()
	}
	setIf(fields, "auth.clientId", checkName(a.ClientID, "is required"))
	setIf(fields, "auth.clientSecret", checkSecret(a.ClientSecret, keeps, false))
	setIf(fields, "auth.scopes", checkScopes(a.Scopes))
	if len(a.Audience) > maxAudienceLength {
		fields["auth.audience"] = fmt.Sprintf("must be at most %d bytes", maxAudienceLength)
	} else if strings.ContainsFunc(a.Audience, unicode.IsControl) {
		fields["auth.audience"] = "must not contain control characters"
	}
}

func checkUsername(u string) string {
	if msg := checkName(u, "is required"); msg != "" {
		return msg
	}
	if strings.Contains(u, ":") {
		return "must not contain a colon (Basic authentication separates the password with it)"
	}
	return ""
}

// checkName checks a username or client id: required, bounded, no
// control characters.
func checkName(v, missing string) string {
	switch {
	case strings.TrimSpace(v) == "":
		return missing
	case len(v) > maxAuthName:
		return fmt.Sprintf("must be at most %d bytes", maxAuthName)
	case strings.ContainsFunc(v, unicode.IsControl):
		return "must not contain control characters"
	}
	return ""
}

// checkSecret checks a password, token or client secret; nil is fine
// when the stored one is kept. A bearer token goes into a header as it
// is, so it must be printable ASCII without spaces.
func checkSecret(v *string, keeps, token bool) string {
	switch {
	case v == nil && keeps:
		return ""
	case v == nil || *v == "":
		return "is required"
	case len(*v) > maxAuthSecret:
		return fmt.Sprintf("must be at most %d bytes", maxAuthSecret)
	case token && strings.ContainsFunc(*v, func(r rune) bool { return r <= ' ' || r > '~' }):
		return "must be printable ASCII without spaces"
	case strings.ContainsFunc(*v, unicode.IsControl):
		return "must not contain control characters"
	}
	return ""
}

// checkScopes checks OAuth 2.0 scopes (RFC 6749 §3.3: printable ASCII
// but space, '"' and '\').
func checkScopes(scopes []string) string {
	if len(scopes) > maxScopes {
		return fmt.Sprintf("must have at most %d items", maxScopes)
	}
	seen := map[string]bool{}
	for _, sc := range scopes {
		if sc == "" || len(sc) > maxScope || strings.ContainsFunc(sc, func(r rune) bool {
			return r <= ' ' || r > '~' || r == '"' || r == '\\'
		}) {
			return fmt.Sprintf("scope %.40q is invalid: 1 to %d printable ASCII characters without spaces, quotes or backslashes", sc, maxScope)
		}
		if seen[sc] {
			return "must not repeat a value"
		}
		seen[sc] = true
	}
	return ""
}

func setIf(fields map[string]string, name, msg string) {
	if msg != "" {
		fields[name] = msg
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// receiverFor is the stored receiver options of webhook id after e, which
// passed checkReceiver against cur: e's new secrets sealed, cur's kept.
func (s *Service) receiverFor(id uuid.UUID, cur db.Receiver, e receiverEdit) (db.Receiver, error) {
	out := cur
	if e.Headers != nil {
		hs, err := s.sealHeaders(id, cur, e.Headers)
		if err != nil {
			return db.Receiver{}, err
		}
		out.Headers = hs
	}
	if e.Auth != nil {
		if err := s.sealAuth(id, cur, *e.Auth, &out); err != nil {
			return db.Receiver{}, err
		}
	}
	if e.TLS != nil {
		if err := s.sealTLS(id, *e.TLS, &out); err != nil {
			return db.Receiver{}, err
		}
	}
	return out, nil
}

func (s *Service) sealHeaders(id uuid.UUID, cur db.Receiver, in []HeaderInput) (db.Headers, error) {
	out := make(db.Headers, 0, len(in))
	for _, h := range in {
		switch {
		case !h.Secret:
			out = append(out, db.Header{Name: h.Name, Value: *h.Value})
		case h.Value == nil: // kept
			old, _ := cur.Headers.Find(h.Name)
			out = append(out, db.Header{Name: h.Name, Secret: true, ValueEnc: old.ValueEnc})
		default:
			enc, err := s.box.Seal([]byte(*h.Value), db.HeaderAAD(id, h.Name))
			if err != nil {
				return nil, fmt.Errorf("encrypting a header value: %w", err)
			}
			out = append(out, db.Header{Name: h.Name, Secret: true, ValueEnc: enc})
		}
	}
	return out, nil
}

func (s *Service) sealAuth(id uuid.UUID, cur db.Receiver, a AuthInput, out *db.Receiver) error {
	out.AuthType = a.Type
	out.AuthParams = db.AuthParams{Username: a.Username, TokenURL: a.TokenURL, ClientID: a.ClientID,
		Scopes: a.Scopes, Audience: a.Audience}
	secret := map[string]*string{db.AuthBasic: a.Password, db.AuthBearer: a.Token, db.AuthOAuth2: a.ClientSecret}[a.Type]
	switch {
	case a.Type == db.AuthNone:
		out.AuthSecretEnc = nil
	case secret == nil: // kept: checkReceiver made sure one of this type is stored
		if cur.AuthType != a.Type || cur.AuthSecretEnc == nil {
			return errors.New("sealing receiver auth: no stored secret to keep")
		}
		out.AuthSecretEnc = cur.AuthSecretEnc
	default:
		enc, err := s.box.Seal([]byte(*secret), db.AuthAAD(id, a.Type))
		if err != nil {
			return fmt.Errorf("encrypting the auth secret: %w", err)
		}
		out.AuthSecretEnc = enc
	}
	return nil
}

// joinInvalid merges the field errors of errs into one Invalid error; any
// other error is returned as it is.
func joinInvalid(errs ...error) error {
	fields := map[string]string{}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != Invalid {
			return err
		}
		for k, v := range e.Fields {
			if _, seen := fields[k]; !seen {
				fields[k] = v
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return invalidFields(fields)
}

// editReceiver extends an edit's check and apply with e: checked against
// the locked row's options (kept secrets, the other option) and sealed
// there, so what is written is what was checked.
func (s *Service) editReceiver(e receiverEdit, check func(db.Webhook) error, apply func(*db.WebhookFields)) (
	func(db.Webhook) error, func(*db.WebhookFields)) {
	if !e.changes() {
		return check, apply
	}
	var next db.Receiver
	return func(w db.Webhook) error {
			if err := check(w); err != nil {
				return err
			}
			if err := s.checkReceiver(e, &w.Receiver); err != nil {
				return err
			}
			var err error
			next, err = s.receiverFor(w.ID, w.Receiver, e)
			return err
		}, func(f *db.WebhookFields) {
			apply(f)
			f.Receiver = next
		}
}
