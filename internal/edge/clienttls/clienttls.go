// Package clienttls checks and builds the TLS material of a webhook
// (issue 19, mutual TLS): a client certificate with its key, presented to
// the receiver, and an optional private CA bundle that verifies the
// receiver's certificate instead of the system roots.
package clienttls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"time"
)

// ExpiryWarning is how long before its expiry a client certificate is
// shown as expiring soon (the health notice of issue 19).
const ExpiryWarning = 14 * 24 * time.Hour

// MaxPEM bounds each PEM field (a chain plus a key fits easily).
const MaxPEM = 64 << 10

// Info is the public description of a client certificate: what the API
// and the console show instead of the PEM and never the key.
type Info struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	NotAfter    time.Time `json:"expiresAt"`
	Fingerprint string    `json:"fingerprintSha256"` // of the leaf's DER, hex
}

// ExpiringSoon reports whether the certificate expires within
// ExpiryWarning of now (or has expired).
func (i Info) ExpiringSoon(now time.Time) bool { return now.Add(ExpiryWarning).After(i.NotAfter) }

// Describe parses the leaf (first) certificate of certPEM.
func Describe(certPEM string) (Info, error) {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return Info{}, err
	}
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	return Info{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter.UTC(),
		Fingerprint: hex.EncodeToString(sum[:])}, nil
}

// CheckCertificate checks a client certificate (the leaf first, then any
// intermediates) at now: it parses and it is valid now. The message names
// the problem for a field error.
func CheckCertificate(certPEM string, now time.Time) string {
	if len(certPEM) > MaxPEM {
		return "is too long"
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return err.Error()
	}
	switch leaf := certs[0]; {
	case now.After(leaf.NotAfter):
		return "has expired (notAfter " + leaf.NotAfter.UTC().Format(time.RFC3339) + ")"
	case now.Before(leaf.NotBefore):
		return "is not valid yet (notBefore " + leaf.NotBefore.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}

// CheckKey checks that keyPEM is a private key matching certPEM's leaf
// (which passed CheckCertificate). The message never quotes the key.
func CheckKey(certPEM, keyPEM string) string {
	if len(keyPEM) > MaxPEM {
		return "is too long"
	}
	if !strings.Contains(keyPEM, "PRIVATE KEY-----") {
		return "must be a PEM private key (PKCS#8, PKCS#1 or EC)"
	}
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		// The error of X509KeyPair names the mismatch, not the key bytes.
		if strings.Contains(err.Error(), "does not match") {
			return "does not match the client certificate"
		}
		return "is not a valid PEM private key"
	}
	return ""
}

// CheckCABundle checks a CA bundle: one or more PEM certificates.
func CheckCABundle(bundle string) string {
	if len(bundle) > MaxPEM {
		return "is too long"
	}
	if _, err := parseCerts(bundle); err != nil {
		return err.Error()
	}
	return ""
}

// Config is the TLS configuration of a webhook's requests: the client
// certificate when certPEM is set, the CA bundle's pool as the roots when
// caPEM is set (the system roots otherwise).
func Config(certPEM, keyPEM, caPEM string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certPEM != "" {
		pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, errors.New("client certificate: the stored key does not load")
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if caPEM != "" {
		certs, err := parseCerts(caPEM)
		if err != nil {
			return nil, errors.New("CA bundle: " + err.Error())
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// parseCerts reads every CERTIFICATE block of s; anything else (a key
// pasted into the wrong field, text) is an error.
func parseCerts(s string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(s))
	var out []*x509.Certificate
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("must be PEM certificates (-----BEGIN CERTIFICATE-----)")
		}
		if b.Type != "CERTIFICATE" {
			if len(b.Type) > 30 || strings.ContainsAny(b.Type, "\r\n") {
				return nil, errors.New("holds a PEM block that is not a certificate; only certificates belong here")
			}
			return nil, errors.New("holds a PEM block of type " + b.Type + "; only certificates belong here")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errors.New("holds a certificate that does not parse")
		}
		out = append(out, c)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(out) == 0 {
		return nil, errors.New("must be PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
	return out, nil
}

// Count is the number of certificates of a CA bundle that passed
// CheckCABundle (0 when it does not parse).
func Count(bundle string) int {
	certs, err := parseCerts(bundle)
	if err != nil {
		return 0
	}
	return len(certs)
}
