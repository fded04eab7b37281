package clienttls_test

import (
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
)

func TestCheckCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	now := time.Now()
	good := ca.Client(t, "client", now.Add(30*24*time.Hour))
	expired := ca.Client(t, "old", now.Add(-time.Hour))
	for name, tc := range map[string]struct{ pem, want string }{
		"good":    {good.CertPEM, ""},
		"chain":   {good.CertPEM + ca.PEM, ""},
		"expired": {expired.CertPEM, "has expired"},
		"text":    {"hello", "must be PEM certificates"},
		"empty":   {"", "must be PEM certificates"},
		"key":     {good.KeyPEM, "only certificates belong here"},
		"garbage": {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"},
	} {
		got := clienttls.CheckCertificate(tc.pem, now)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	good := ca.Client(t, "client", time.Now().Add(30*24*time.Hour))
	other := testpki.NewKeyPEM(t)
	if msg := clienttls.CheckKey(good.CertPEM, good.KeyPEM); msg != "" {
		t.Fatalf("matching key: %s", msg)
	}
	if msg := clienttls.CheckKey(good.CertPEM, other); !strings.Contains(msg, "does not match") {
		t.Fatalf("mismatched key: %q", msg)
	}
	if msg := clienttls.CheckKey(good.CertPEM, "secret-ish text"); msg == "" || strings.Contains(msg, "secret-ish") {
		t.Fatalf("not a key: %q", msg)
	}
}

func TestCheckCABundle(t *testing.T) {
	a, b := testpki.NewCA(t, "a"), testpki.NewCA(t, "b")
	if msg := clienttls.CheckCABundle(a.PEM + b.PEM); msg != "" {
		t.Fatal(msg)
	}
	if msg := clienttls.CheckCABundle("nope"); msg == "" {
		t.Fatal("text accepted as a CA bundle")
	}
}

func TestDescribeAndExpiry(t *testing.T) {
	ca := testpki.NewCA(t, "Test CA")
	now := time.Now()
	soon := ca.Client(t, "soon", now.Add(10*24*time.Hour))
	later := ca.Client(t, "later", now.Add(20*24*time.Hour))
	info, err := clienttls.Describe(soon.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != "CN=soon" || info.Issuer != "CN=Test CA" || len(info.Fingerprint) != 64 {
		t.Fatalf("info %+v", info)
	}
	if !info.ExpiringSoon(now) {
		t.Fatal("10 days left is not expiring soon")
	}
	if info, _ := clienttls.Describe(later.CertPEM); info.ExpiringSoon(now) {
		t.Fatal("20 days left is expiring soon")
	}
}

func TestConfig(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	c := ca.Client(t, "client", time.Now().Add(30*24*time.Hour))
	cfg, err := clienttls.Config(c.CertPEM, c.KeyPEM, ca.PEM)
	if err != nil || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	if _, err := clienttls.Config(c.CertPEM, testpki.NewKeyPEM(t), ""); err == nil || strings.Contains(err.Error(), "PRIVATE") {
		t.Fatalf("mismatched key: %v", err)
	}
}

// FuzzCheck: any text in any field is a message or nothing, never a panic,
// and a message is one short line (it never quotes the input beyond a
// PEM block's short type).
func FuzzCheck(f *testing.F) {
	f.Add("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
	f.Add("", "")
	f.Add("-----BEGIN CERTIFICATE-----", "PRIVATE KEY-----")
	f.Fuzz(func(t *testing.T, cert, key string) {
		msgs := []string{clienttls.CheckCertificate(cert, time.Now()), clienttls.CheckCABundle(cert), clienttls.CheckKey(cert, key)}
		_, _ = clienttls.Describe(cert)
		_, _ = clienttls.Config(cert, key, cert)
		for _, m := range msgs {
			if len(m) > 120 || strings.ContainsAny(m, "\n\r") {
				t.Fatalf("a message quotes the input: %q", m)
			}
		}
	})
}
