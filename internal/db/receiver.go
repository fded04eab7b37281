package db

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Receiver is how a webhook's requests reach its receiver besides the URL
// and the signature (issue 19): custom headers and the receiver's
// authentication. Secrets are ciphertexts (secretbox), sealed with
// HeaderAAD and AuthAAD; the rest is plain.
type Receiver struct {
	Headers    Headers    `db:"headers"`
	AuthType   string     `db:"auth_type"` // AuthNone, AuthBasic, AuthBearer or AuthOAuth2
	AuthParams AuthParams `db:"auth_params"`
	// AuthSecretEnc is the sealed password (basic), token (bearer) or
	// client secret (oauth2); nil exactly when AuthType is AuthNone.
	AuthSecretEnc []byte `db:"auth_secret_enc"`
	// TLS: the client certificate (PEM, "" for none), its key sealed with
	// ClientKeyAAD (nil exactly when there is no certificate) and the
	// private CA bundle verifying the receiver ("" for the system roots).
	ClientCert   string `db:"tls_client_cert"`
	ClientKeyEnc []byte `db:"tls_client_key_enc"`
	CABundle     string `db:"tls_ca_bundle"`
	// ClientCertSHA256 is the certificate's fingerprint (hex SHA-256 of
	// the leaf's DER), "" without one: written with it, copied onto each
	// attempt that presents it.
	ClientCertSHA256 string `db:"tls_client_cert_sha256"`
}

// HasTLS reports whether requests use TLS options of their own.
func (r Receiver) HasTLS() bool { return r.ClientCert != "" || r.CABundle != "" }

// Receiver authentication types.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthOAuth2 = "oauth2" // client credentials grant
)

// Header is one custom header: Value in clear, or ValueEnc sealed when
// Secret.
type Header struct {
	Name     string `json:"name"`
	Value    string `json:"value,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
	ValueEnc []byte `json:"valueEnc,omitempty"`
}

// Headers is the webhooks.headers column (jsonb).
type Headers []Header

// Scan reads the jsonb column (into a fresh value: a row read into a
// Webhook that held another must not keep any of it).
func (h *Headers) Scan(src any) error {
	*h = nil
	return scanJSON(src, h)
}

// Value writes the jsonb column ([] for none).
func (h Headers) Value() (driver.Value, error) {
	if h == nil {
		h = Headers{}
	}
	return json.Marshal(h)
}

// Find returns the header named name (case-insensitively), if any.
func (h Headers) Find(name string) (Header, bool) {
	for _, x := range h {
		if strings.EqualFold(x.Name, name) {
			return x, true
		}
	}
	return Header{}, false
}

// AuthParams is the public part of a receiver's authentication: Username
// for basic; TokenURL, ClientID, Scopes and Audience for oauth2.
type AuthParams struct {
	Username string   `json:"username,omitempty"`
	TokenURL string   `json:"tokenUrl,omitempty"`
	ClientID string   `json:"clientId,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Audience string   `json:"audience,omitempty"`
}

// Scan reads the jsonb column (into a fresh value, as Headers.Scan).
func (p *AuthParams) Scan(src any) error {
	*p = AuthParams{}
	return scanJSON(src, p)
}

// Value writes the jsonb column.
func (p AuthParams) Value() (driver.Value, error) { return json.Marshal(p) }

func scanJSON(src, dst any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	case nil:
		return nil // a deleted webhook (LEFT JOIN): nothing to read
	default:
		return fmt.Errorf("scanning %T into %T", src, dst)
	}
	return json.Unmarshal(b, dst)
}

// HeaderAAD binds a secret header value's ciphertext to its webhook and
// header name, so it cannot be moved to another webhook or header.
func HeaderAAD(webhookID uuid.UUID, name string) []byte {
	return []byte("webhook-header:" + webhookID.String() + ":" + strings.ToLower(name))
}

// AuthAAD binds an auth secret's ciphertext to its webhook and auth type:
// a password never decrypts as a client secret.
func AuthAAD(webhookID uuid.UUID, authType string) []byte {
	return []byte("webhook-auth:" + webhookID.String() + ":" + authType)
}

// ClientKeyAAD binds a client key's ciphertext to its webhook.
func ClientKeyAAD(webhookID uuid.UUID) []byte {
	return []byte("webhook-client-key:" + webhookID.String())
}

// orNone is the stored auth type of t ("" is none).
func orNone(t string) string {
	if t == "" {
		return AuthNone
	}
	return t
}

// setReceiver writes r onto webhook id within tx when it differs from
// what w holds, and reads the row back into w: its own statement, so the
// webhook statements of other features stay as they are, and the same
// transaction, so a webhook is never half-written.
func setReceiver(ctx context.Context, tx *sqlx.Tx, w *Webhook, r Receiver) error {
	r.AuthType = orNone(r.AuthType)
	if reflect.DeepEqual(normalized(w.Receiver), normalized(r)) {
		return nil
	}
	return translate(tx.GetContext(ctx, w, `
		UPDATE webhooks SET headers = $2, auth_type = $3, auth_params = $4, auth_secret_enc = $5,
			tls_client_cert = $6, tls_client_key_enc = $7, tls_ca_bundle = $8, tls_client_cert_sha256 = $9, updated_at = now()
		WHERE id = $1 RETURNING `+webhookColumns, w.ID, r.Headers, r.AuthType, r.AuthParams, r.AuthSecretEnc,
		r.ClientCert, r.ClientKeyEnc, r.CABundle, r.ClientCertSHA256))
}

// normalized makes a receiver comparable: no headers is no headers
// whether nil or empty.
func normalized(r Receiver) Receiver {
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	if len(r.AuthParams.Scopes) == 0 {
		r.AuthParams.Scopes = nil
	}
	r.AuthType = orNone(r.AuthType)
	return r
}
