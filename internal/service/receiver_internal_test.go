package service

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
)

func receiverService(t *testing.T) *Service {
	t.Helper()
	cfg, err := config.LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return New(Deps{Config: cfg, Box: box})
}

func str(s string) *string { return &s }

func hdr(name, value string) HeaderInput { return HeaderInput{Name: name, Value: str(value)} }

// fieldsOf is the field errors of err (nil: none).
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok || e.Kind != Invalid {
		t.Fatalf("want an Invalid error, got %v", err)
	}
	return e.Fields
}

func TestCheckHeaders(t *testing.T) {
	s := receiverService(t)
	many := make([]HeaderInput, MaxHeaders+1)
	for i := range many {
		many[i] = hdr(fmt.Sprintf("X-H%d", i), "v")
	}
	long := strings.Repeat("a", maxHeaderValue+1)
	for _, tc := range []struct {
		name    string
		headers []HeaderInput
		auth    *AuthInput
		want    string // in the "headers" error; "" means valid
	}{
		{"ordinary", []HeaderInput{hdr("X-Tenant", "acme"), hdr("X-Empty", ""), {Name: "X-Key", Value: str("k"), Secret: true}}, nil, ""},
		{"token characters", []HeaderInput{hdr("X!#$%&'*+-.^_`|~9", "v")}, nil, ""},
		{"none", []HeaderInput{}, nil, ""},
		{"too many", many, nil, "at most 20 items"},
		{"no name", []HeaderInput{hdr("", "v")}, nil, "needs a name"},
		{"space in name", []HeaderInput{hdr("X Tenant", "v")}, nil, `header name "X Tenant" is invalid`},
		{"colon in name", []HeaderInput{hdr("X:a", "v")}, nil, `"X:a" is invalid`},
		{"non-ASCII name", []HeaderInput{hdr("X-Ténant", "v")}, nil, "is invalid"},
		{"long name", []HeaderInput{hdr(strings.Repeat("x", maxHeaderName+1), "v")}, nil, "longer than 100"},
		{"signature", []HeaderInput{hdr("Webhook-Signature", "v")}, nil, `"Webhook-Signature" cannot be set: the sender signs`},
		{"webhook-id", []HeaderInput{hdr("webhook-id", "v")}, nil, `"webhook-id" cannot be set`},
		{"timestamp", []HeaderInput{hdr("WEBHOOK-TIMESTAMP", "v")}, nil, "cannot be set"},
		{"host", []HeaderInput{hdr("Host", "v")}, nil, `"Host" cannot be set: it comes from the URL`},
		{"content-type", []HeaderInput{hdr("content-type", "text/plain")}, nil, `"content-type" cannot be set`},
		{"content-length", []HeaderInput{hdr("Content-Length", "1")}, nil, "cannot be set"},
		{"user-agent", []HeaderInput{hdr("User-Agent", "x")}, nil, `"User-Agent" cannot be set: it names the sender`},
		{"connection", []HeaderInput{hdr("Connection", "close")}, nil, "hop-by-hop"},
		{"keep-alive", []HeaderInput{hdr("Keep-Alive", "1")}, nil, "hop-by-hop"},
		{"te", []HeaderInput{hdr("TE", "trailers")}, nil, "hop-by-hop"},
		{"trailer", []HeaderInput{hdr("Trailer", "x")}, nil, "hop-by-hop"},
		{"transfer-encoding", []HeaderInput{hdr("Transfer-Encoding", "chunked")}, nil, "hop-by-hop"},
		{"upgrade", []HeaderInput{hdr("Upgrade", "h2c")}, nil, "hop-by-hop"},
		{"proxy-authorization", []HeaderInput{hdr("Proxy-Authorization", "x")}, nil, `"Proxy-Authorization" cannot be set: it is a hop-by-hop`},
		{"authorization without auth", []HeaderInput{hdr("Authorization", "ApiKey k")}, &AuthInput{Type: "none"}, ""},
		{"authorization with basic", []HeaderInput{hdr("Authorization", "x")},
			&AuthInput{Type: "basic", Username: "u", Password: str("p")}, `"Authorization" cannot be set: the receiver authentication (auth, basic) sets it`},
		{"twice", []HeaderInput{hdr("X-A", "1"), hdr("x-a", "2")}, nil, `"x-a" is listed twice`},
		{"no value", []HeaderInput{{Name: "X-A"}}, nil, `"X-A" needs a value`},
		{"secret without value on create", []HeaderInput{{Name: "X-A", Secret: true}}, nil, "no secret value is stored"},
		{"empty secret", []HeaderInput{{Name: "X-A", Value: str(""), Secret: true}}, nil, "leave value out to keep"},
		{"CR LF", []HeaderInput{hdr("X-A", "a\r\nX-Evil: 1")}, nil, "must not contain control characters"},
		{"NUL", []HeaderInput{hdr("X-A", "a\x00")}, nil, "control characters"},
		{"tab is fine", []HeaderInput{hdr("X-A", "a\tb")}, nil, ""},
		{"long value", []HeaderInput{hdr("X-A", long)}, nil, "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := fieldsOf(t, s.checkReceiver(receiverEdit{Headers: tc.headers, Auth: tc.auth}, &db.Receiver{}))
			got := fields["headers"]
			switch {
			case tc.want == "" && len(fields) > 0:
				t.Fatalf("refused: %v", fields)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("headers error %q, want it to contain %q (all: %v)", got, tc.want, fields)
			}
		})
	}
}

func TestCheckAuth(t *testing.T) {
	s := receiverService(t)
	s.cfg.AllowHTTP = false
	ok := "https://auth.example.com/oauth/token"
	for _, tc := range []struct {
		name  string
		auth  AuthInput
		field string // "" means valid
		want  string
	}{
		{"none", AuthInput{Type: "none"}, "", ""},
		{"basic", AuthInput{Type: "basic", Username: "u", Password: str("p w:d")}, "", ""},
		{"bearer", AuthInput{Type: "bearer", Token: str("abc.def-_~+/=")}, "", ""},
		{"oauth2", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"),
			Scopes: []string{"webhooks:write", "read"}, Audience: "https://api.example.com"}, "", ""},
		{"oauth2 minimal", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s")}, "", ""},
		{"unknown type", AuthInput{Type: "digest"}, "auth.type", "must be one of: none, basic, bearer, oauth2"},
		{"no type", AuthInput{}, "auth.type", "must be one of"},
		{"none with a field", AuthInput{Type: "none", Username: "u"}, "auth.username", "is not used by auth type none"},
		{"basic without username", AuthInput{Type: "basic", Password: str("p")}, "auth.username", "is required"},
		{"basic without password", AuthInput{Type: "basic", Username: "u"}, "auth.password", "is required"},
		{"basic empty password", AuthInput{Type: "basic", Username: "u", Password: str("")}, "auth.password", "is required"},
		{"basic colon", AuthInput{Type: "basic", Username: "a:b", Password: str("p")}, "auth.username", "colon"},
		{"basic control", AuthInput{Type: "basic", Username: "u", Password: str("p\n")}, "auth.password", "control characters"},
		{"basic with token", AuthInput{Type: "basic", Username: "u", Password: str("p"), Token: str("t")}, "auth.token", "not used by auth type basic"},
		{"bearer without token", AuthInput{Type: "bearer"}, "auth.token", "is required"},
		{"bearer with space", AuthInput{Type: "bearer", Token: str("a b")}, "auth.token", "printable ASCII without spaces"},
		{"bearer CRLF", AuthInput{Type: "bearer", Token: str("a\r\nX: y")}, "auth.token", "printable ASCII"},
		{"bearer too long", AuthInput{Type: "bearer", Token: str(strings.Repeat("a", maxAuthSecret+1))}, "auth.token", "at most 4096"},
		{"oauth2 without url", AuthInput{Type: "oauth2", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "is required"},
		{"oauth2 http", AuthInput{Type: "oauth2", TokenURL: "http://auth.example.com/t", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "must use https://"},
		{"oauth2 private", AuthInput{Type: "oauth2", TokenURL: "https://10.0.0.1/t", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "public address"},
		{"oauth2 metadata", AuthInput{Type: "oauth2", TokenURL: "https://169.254.169.254/t", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "public address"},
		{"oauth2 localhost", AuthInput{Type: "oauth2", TokenURL: "https://localhost/t", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "public address"},
		{"oauth2 userinfo", AuthInput{Type: "oauth2", TokenURL: "https://u:p@auth.example.com/t", ClientID: "c", ClientSecret: str("s")}, "auth.tokenUrl", "user information"},
		{"oauth2 without client id", AuthInput{Type: "oauth2", TokenURL: ok, ClientSecret: str("s")}, "auth.clientId", "is required"},
		{"oauth2 without secret", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c"}, "auth.clientSecret", "is required"},
		{"oauth2 bad scope", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"), Scopes: []string{"a b"}}, "auth.scopes", "is invalid"},
		{"oauth2 empty scope", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"), Scopes: []string{""}}, "auth.scopes", "is invalid"},
		{"oauth2 repeated scope", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"), Scopes: []string{"a", "a"}}, "auth.scopes", "repeat"},
		{"oauth2 audience control", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"), Audience: "a\x00"}, "auth.audience", "control"},
		{"oauth2 with username", AuthInput{Type: "oauth2", TokenURL: ok, ClientID: "c", ClientSecret: str("s"), Username: "u"}, "auth.username", "not used by auth type oauth2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.auth
			fields := fieldsOf(t, s.checkReceiver(receiverEdit{Auth: &a}, &db.Receiver{}))
			switch {
			case tc.field == "" && len(fields) > 0:
				t.Fatalf("refused: %v", fields)
			case tc.field != "" && !strings.Contains(fields[tc.field], tc.want):
				t.Fatalf("%s error %q, want it to contain %q (all: %v)", tc.field, fields[tc.field], tc.want, fields)
			}
		})
	}
}

// TestReceiverKeepsSecrets: an edit that leaves a secret out keeps the
// stored one (same header name, same auth type); a new one is sealed for
// its webhook and name; nothing secret is stored in clear.
func TestReceiverKeepsSecrets(t *testing.T) {
	s := receiverService(t)
	id := uuid.New()
	create := receiverEdit{
		Headers: []HeaderInput{hdr("X-Tenant", "acme"), {Name: "X-Api-Key", Value: str("hdr-secret-1"), Secret: true}},
		Auth:    &AuthInput{Type: "basic", Username: "u", Password: str("pw-secret-1")},
	}
	if err := s.checkReceiver(create, &db.Receiver{}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.receiverFor(id, db.Receiver{}, create)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range stored.Headers {
		if h.Secret && (h.Value != "" || bytes.Contains(h.ValueEnc, []byte("hdr-secret-1"))) {
			t.Fatalf("secret header stored in clear: %+v", h)
		}
	}
	open := func(enc []byte, aad []byte) string {
		t.Helper()
		v, err := s.box.Open(enc, aad)
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	if got := open(stored.Headers[1].ValueEnc, db.HeaderAAD(id, "x-api-key")); got != "hdr-secret-1" {
		t.Fatalf("header value %q", got)
	}
	if got := open(stored.AuthSecretEnc, db.AuthAAD(id, "basic")); got != "pw-secret-1" {
		t.Fatalf("password %q", got)
	}
	// Another webhook's AAD does not open it.
	if _, err := s.box.Open(stored.AuthSecretEnc, db.AuthAAD(uuid.New(), "basic")); err == nil {
		t.Fatal("the password opened under another webhook's AAD")
	}

	// Keep both secrets: the header named in another case, the username changed.
	keep := receiverEdit{
		Headers: []HeaderInput{{Name: "x-api-key", Secret: true}},
		Auth:    &AuthInput{Type: "basic", Username: "v"},
	}
	if err := s.checkReceiver(keep, &stored); err != nil {
		t.Fatal(err)
	}
	kept, err := s.receiverFor(id, stored, keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Headers) != 1 || open(kept.Headers[0].ValueEnc, db.HeaderAAD(id, kept.Headers[0].Name)) != "hdr-secret-1" {
		t.Fatalf("kept header: %+v", kept.Headers)
	}
	if kept.AuthParams.Username != "v" || open(kept.AuthSecretEnc, db.AuthAAD(id, "basic")) != "pw-secret-1" {
		t.Fatalf("kept auth: %+v", kept)
	}

	// A type change needs its own secret; a header not secret before has
	// nothing to keep; auth set while an Authorization header stays is refused.
	for _, tc := range []struct {
		edit  receiverEdit
		field string
		want  string
	}{
		{receiverEdit{Auth: &AuthInput{Type: "bearer"}}, "auth.token", "is required"},
		{receiverEdit{Headers: []HeaderInput{{Name: "X-Tenant", Secret: true}}}, "headers", "no secret value is stored"},
		{receiverEdit{Headers: []HeaderInput{hdr("Authorization", "x")}}, "headers", "(auth, basic) sets it"},
	} {
		if f := fieldsOf(t, s.checkReceiver(tc.edit, &stored)); !strings.Contains(f[tc.field], tc.want) {
			t.Errorf("%v: %s = %q, want %q", tc.edit, tc.field, f[tc.field], tc.want)
		}
	}
	withAuthz := db.Receiver{Headers: db.Headers{{Name: "Authorization", Value: "ApiKey k"}}, AuthType: db.AuthNone}
	f := fieldsOf(t, s.checkReceiver(receiverEdit{Auth: &AuthInput{Type: "bearer", Token: str("t")}}, &withAuthz))
	if !strings.Contains(f["auth"], `custom header "Authorization"`) {
		t.Errorf("auth over a kept Authorization header: %v", f)
	}
	// Before the row is known, a left-out secret is not judged.
	if err := s.checkReceiver(keep, nil); err != nil {
		t.Errorf("pre-check refused a keep: %v", err)
	}
	// None removes the credentials.
	none, err := s.receiverFor(id, stored, receiverEdit{Auth: &AuthInput{Type: "none"}})
	if err != nil || none.AuthSecretEnc != nil || none.AuthType != "none" || none.AuthParams.Username != "" {
		t.Fatalf("auth none: %+v %v", none, err)
	}
}

// TestInputsNeverPrintSecrets: a request printed by mistake shows no secret.
func TestInputsNeverPrintSecrets(t *testing.T) {
	a := AuthInput{Type: "oauth2", ClientSecret: str("cs-secret"), Password: str("pw-secret"), Token: str("tk-secret")}
	h := HeaderInput{Name: "X-Key", Value: str("hv-secret"), Secret: true}
	for _, out := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %s", a, h, h), fmt.Sprint(&a), a.LogValue().String()} {
		if strings.Contains(out, "secret\"") || strings.Contains(out, "-secret") {
			t.Errorf("printed a secret: %s", out)
		}
	}
}
