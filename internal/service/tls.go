package service

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
)

// TLSInput is a webhook's mutual TLS options (issue 19): the client
// certificate (PEM, leaf first, intermediates after) with its key, and a
// private CA bundle verifying the receiver instead of the system roots.
// A field left out (or null) keeps what is stored; "" removes it (a
// certificate removed takes its key along). ClientKey may be left out
// only while the certificate stays the one stored.
type TLSInput struct {
	ClientCertificate *string `json:"clientCertificate,omitempty"`
	ClientKey         *string `json:"clientKey,omitempty"`
	CABundle          *string `json:"caBundle,omitempty"`
}

// String keeps the key out of anything printed with fmt.
func (t TLSInput) String() string { return "tls(...)" }

// LogValue keeps the key out of logs.
func (t TLSInput) LogValue() slog.Value { return slog.StringValue(t.String()) }

// tlsField names the fields of TLSInput in field errors.
const (
	fieldClientCert = "tls.clientCertificate"
	fieldClientKey  = "tls.clientKey"
	fieldCABundle   = "tls.caBundle"
)

// checkTLS adds t's field errors to fields. cur is what is stored; nil
// before the row is locked, which leaves out the rules about the kept key.
func (s *Service) checkTLS(t TLSInput, cur *db.Receiver, fields map[string]string) {
	cert := trimmed(t.ClientCertificate)
	if cert != nil && *cert != "" {
		setIf(fields, fieldClientCert, clienttls.CheckCertificate(*cert, s.now()))
	}
	if ca := trimmed(t.CABundle); ca != nil && *ca != "" {
		setIf(fields, fieldCABundle, clienttls.CheckCABundle(*ca))
	}
	if _, bad := fields[fieldClientCert]; bad {
		return
	}
	key := t.ClientKey
	switch {
	case cert != nil && *cert == "":
		if key != nil && *key != "" {
			fields[fieldClientKey] = "must be left out when the client certificate is removed"
		}
	case key != nil && cert == nil:
		// A new key for the stored certificate.
		if cur != nil && cur.ClientCert == "" {
			fields[fieldClientKey] = "needs a client certificate"
		} else if cur != nil {
			setIf(fields, fieldClientKey, clienttls.CheckKey(cur.ClientCert, *key))
		}
	case key != nil:
		setIf(fields, fieldClientKey, clienttls.CheckKey(*cert, *key))
	case cert != nil && cur != nil && *cert != cur.ClientCert:
		fields[fieldClientKey] = "is required with a new client certificate"
	}
}

// sealTLS writes t onto out (a copy of cur): the certificate and CA
// bundle as they are, a new key sealed, the stored one kept.
func (s *Service) sealTLS(id uuid.UUID, t TLSInput, out *db.Receiver) error {
	if ca := trimmed(t.CABundle); ca != nil {
		out.CABundle = *ca
	}
	if cert := trimmed(t.ClientCertificate); cert != nil {
		out.ClientCert = *cert
		out.ClientCertSHA256 = ""
		if info, err := clienttls.Describe(*cert); err == nil { // checkTLS parsed it
			out.ClientCertSHA256 = info.Fingerprint
		}
	}
	switch {
	case out.ClientCert == "":
		out.ClientKeyEnc = nil
	case t.ClientKey != nil:
		enc, err := s.box.Seal([]byte(*t.ClientKey), db.ClientKeyAAD(id))
		if err != nil {
			return fmt.Errorf("encrypting the client key: %w", err)
		}
		out.ClientKeyEnc = enc
	case out.ClientKeyEnc == nil: // checkTLS made sure a key is stored
		return fmt.Errorf("sealing the client key: no stored key to keep")
	}
	return nil
}

// trimmed is *p without surrounding space (PEM pasted into a form).
func trimmed(p *string) *string {
	if p == nil {
		return nil
	}
	v := strings.TrimSpace(*p)
	if v != "" {
		v += "\n"
	}
	return &v
}
