// Package testpki makes certificates for tests of mutual TLS: a CA, server
// and client certificates it signs, expired ones and mismatched keys. The
// fault suite (internal/harness/chaos) uses the error-returning forms
// (Generate, IssueServer, IssueClient); tests the ones taking a testing.TB.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  string
}

// Pair is a certificate and its key, PEM.
type Pair struct {
	CertPEM, KeyPEM string
}

// Generate makes a CA valid from an hour ago for a year.
func Generate(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: encode("CERTIFICATE", der)}, nil
}

// IssueServer is a server certificate for 127.0.0.1 and localhost, valid
// for a day.
func (ca *CA) IssueServer() (Pair, error) {
	return ca.issue("localhost", time.Now().Add(24*time.Hour), x509.ExtKeyUsageServerAuth)
}

// IssueClient is a client certificate named cn, valid until notAfter.
func (ca *CA) IssueClient(cn string, notAfter time.Time) (Pair, error) {
	return ca.issue(cn, notAfter, x509.ExtKeyUsageClientAuth)
}

// NewCA is Generate for a test.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := Generate(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Server is IssueServer for a test.
func (ca *CA) Server(t testing.TB) Pair {
	t.Helper()
	return must(t)(ca.IssueServer())
}

// Client is IssueClient for a test.
func (ca *CA) Client(t testing.TB, cn string, notAfter time.Time) Pair {
	t.Helper()
	return must(t)(ca.IssueClient(cn, notAfter))
}

func must(t testing.TB) func(Pair, error) Pair {
	return func(p Pair, err error) Pair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func (ca *CA) issue(cn string, notAfter time.Time, usage x509.ExtKeyUsage) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	sn, err := serial()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if time.Until(notAfter) > 48*time.Hour {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Pair{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: encode("CERTIFICATE", der), KeyPEM: keyPEM}, nil
}

// NewKeyPEM is a fresh key matching no certificate.
func NewKeyPEM(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return KeyPEM(t, key)
}

// KeyPEM encodes key as PKCS#8.
func KeyPEM(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	s, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encodeKey(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return encode("PRIVATE KEY", der), nil
}

func serial() (*big.Int, error) { return rand.Int(rand.Reader, big.NewInt(1<<62)) }

func encode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
