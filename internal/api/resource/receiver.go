package resource

import (
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
)

// Header is a custom header of a webhook: a secret one shows its name
// only (Secret true, no Value).
type Header struct {
	Name   string  `json:"name"`
	Value  *string `json:"value,omitempty"`
	Secret bool    `json:"secret"`
}

// Auth is how the receiver authenticates our requests, without its
// secret: Type none, basic (Username), bearer, or oauth2 (TokenURL,
// ClientID, Scopes, Audience).
type Auth struct {
	Type     string   `json:"type"`
	Username string   `json:"username,omitempty"`
	TokenURL string   `json:"tokenUrl,omitempty"`
	ClientID string   `json:"clientId,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Audience string   `json:"audience,omitempty"`
}

// fromReceiver shows a webhook's receiver options, never a secret: a
// secret header keeps its name, the authentication its public part.
func fromReceiver(r db.Receiver) ([]Header, Auth) {
	hs := make([]Header, 0, len(r.Headers))
	for _, h := range r.Headers {
		out := Header{Name: h.Name, Secret: h.Secret}
		if !h.Secret {
			v := h.Value
			out.Value = &v
		}
		hs = append(hs, out)
	}
	typ := r.AuthType
	if typ == "" {
		typ = db.AuthNone
	}
	p := r.AuthParams
	return hs, Auth{Type: typ, Username: p.Username, TokenURL: p.TokenURL, ClientID: p.ClientID, Scopes: p.Scopes,
		Audience: p.Audience}
}

// TLS is a webhook's mutual TLS options as the API shows them: the client
// certificate described (never its PEM key) and how many private CA
// certificates verify the receiver (0: the system roots).
type TLS struct {
	ClientCertificate *ClientCertificate `json:"clientCertificate"`
	CACertificates    int                `json:"caCertificates"`
}

// ClientCertificate describes a webhook's client certificate; ExpiringSoon
// is the health notice: it expires within 14 days (or has expired).
type ClientCertificate struct {
	Subject           string    `json:"subject"`
	Issuer            string    `json:"issuer"`
	ExpiresAt         time.Time `json:"expiresAt"`
	FingerprintSHA256 string    `json:"fingerprintSha256"`
	ExpiringSoon      bool      `json:"expiringSoon"`
}

// fromTLS shows r's TLS options at now.
func fromTLS(r db.Receiver, now time.Time) TLS {
	out := TLS{CACertificates: clienttls.Count(r.CABundle)}
	if r.CABundle == "" {
		out.CACertificates = 0
	}
	if r.ClientCert == "" {
		return out
	}
	// Checked when saved: a certificate that no longer parses is shown
	// as absent rather than failing the answer.
	if info, err := clienttls.Describe(r.ClientCert); err == nil {
		out.ClientCertificate = &ClientCertificate{Subject: info.Subject, Issuer: info.Issuer, ExpiresAt: info.NotAfter,
			FingerprintSHA256: info.Fingerprint, ExpiringSoon: info.ExpiringSoon(now)}
	}
	return out
}
