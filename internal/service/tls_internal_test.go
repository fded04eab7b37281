package service

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
)

func TestCheckTLS(t *testing.T) {
	s := receiverService(t)
	ca := testpki.NewCA(t, "test CA")
	good := ca.Client(t, "client", time.Now().Add(60*24*time.Hour))
	renewed := ca.Client(t, "client", time.Now().Add(90*24*time.Hour))
	expired := ca.Client(t, "old", time.Now().Add(-time.Hour))
	stored := &db.Receiver{ClientCert: strings.TrimSpace(good.CertPEM) + "\n", ClientKeyEnc: []byte("sealed")}
	for _, tc := range []struct {
		name  string
		in    TLSInput
		cur   *db.Receiver
		field string // the field error expected; "" means valid
		want  string
	}{
		{"new pair", TLSInput{ClientCertificate: str(good.CertPEM), ClientKey: str(good.KeyPEM)}, &db.Receiver{}, "", ""},
		{"pair and CA", TLSInput{ClientCertificate: str(good.CertPEM), ClientKey: str(good.KeyPEM), CABundle: str(ca.PEM)}, &db.Receiver{}, "", ""},
		{"CA only", TLSInput{CABundle: str(ca.PEM)}, &db.Receiver{}, "", ""},
		{"empty keeps", TLSInput{}, stored, "", ""},
		{"expired", TLSInput{ClientCertificate: str(expired.CertPEM), ClientKey: str(expired.KeyPEM)}, &db.Receiver{}, fieldClientCert, "has expired"},
		{"not PEM", TLSInput{ClientCertificate: str("cert"), ClientKey: str(good.KeyPEM)}, &db.Receiver{}, fieldClientCert, "PEM"},
		{"mismatched key", TLSInput{ClientCertificate: str(good.CertPEM), ClientKey: str(testpki.NewKeyPEM(t))}, &db.Receiver{}, fieldClientKey, "does not match"},
		{"no key on create", TLSInput{ClientCertificate: str(good.CertPEM)}, &db.Receiver{}, fieldClientKey, "required"},
		{"key without certificate", TLSInput{ClientKey: str(good.KeyPEM)}, &db.Receiver{}, fieldClientKey, "needs a client certificate"},
		{"same certificate keeps the key", TLSInput{ClientCertificate: str(good.CertPEM)}, stored, "", ""},
		{"new certificate needs its key", TLSInput{ClientCertificate: str(renewed.CertPEM)}, stored, fieldClientKey, "required"},
		{"new key for the stored certificate", TLSInput{ClientKey: str(good.KeyPEM)}, stored, "", ""},
		{"wrong key for the stored certificate", TLSInput{ClientKey: str(renewed.KeyPEM)}, stored, fieldClientKey, "does not match"},
		{"remove with a key", TLSInput{ClientCertificate: str(""), ClientKey: str(good.KeyPEM)}, stored, fieldClientKey, "left out"},
		{"remove", TLSInput{ClientCertificate: str(""), CABundle: str("")}, stored, "", ""},
		{"bad CA", TLSInput{CABundle: str(good.KeyPEM)}, &db.Receiver{}, fieldCABundle, "only certificates"},
	} {
		fields := fieldsOf(t, s.checkReceiver(receiverEdit{TLS: &tc.in}, tc.cur))
		if tc.field == "" {
			if fields != nil {
				t.Errorf("%s: unexpected %v", tc.name, fields)
			}
			continue
		}
		if !strings.Contains(fields[tc.field], tc.want) {
			t.Errorf("%s: %s = %q, want %q (all: %v)", tc.name, tc.field, fields[tc.field], tc.want, fields)
		}
		for _, msg := range fields {
			if strings.Contains(msg, "\n") || len(msg) > 120 {
				t.Errorf("%s: an error quotes the input: %q", tc.name, msg)
			}
		}
	}
}

func TestSealTLS(t *testing.T) {
	s := receiverService(t)
	ca := testpki.NewCA(t, "test CA")
	good := ca.Client(t, "client", time.Now().Add(60*24*time.Hour))
	id := uuid.New()
	r, err := s.receiverFor(id, db.Receiver{}, receiverEdit{TLS: &TLSInput{ClientCertificate: str(good.CertPEM),
		ClientKey: str(good.KeyPEM), CABundle: str(ca.PEM)}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.ClientKeyEnc), "PRIVATE") || r.ClientCert == "" || r.CABundle == "" {
		t.Fatalf("stored %+v", r)
	}
	key, err := s.box.Open(r.ClientKeyEnc, db.ClientKeyAAD(id))
	if err != nil || string(key) != good.KeyPEM {
		t.Fatalf("sealed key does not open with its AAD: %v", err)
	}
	if _, err := s.box.Open(r.ClientKeyEnc, db.ClientKeyAAD(uuid.New())); err == nil {
		t.Fatal("the key opens for another webhook")
	}
	// Same certificate, no key: the stored key stays.
	kept, err := s.receiverFor(id, r, receiverEdit{TLS: &TLSInput{ClientCertificate: str(good.CertPEM), CABundle: str("")}})
	if err != nil || string(kept.ClientKeyEnc) != string(r.ClientKeyEnc) || kept.CABundle != "" {
		t.Fatalf("kept %+v, %v", kept, err)
	}
	// Removed: the key goes with the certificate.
	gone, err := s.receiverFor(id, r, receiverEdit{TLS: &TLSInput{ClientCertificate: str("")}})
	if err != nil || gone.ClientCert != "" || gone.ClientKeyEnc != nil || gone.CABundle == "" {
		t.Fatalf("removed %+v, %v", gone, err)
	}
}

func TestEmptyTLSPatchIsNoEdit(t *testing.T) {
	if (WebhookPatch{TLS: &TLSInput{}}).receiverEdit().changes() {
		t.Fatal(`"tls": {} counts as an edit`)
	}
	if !(WebhookPatch{TLS: &TLSInput{CABundle: str("")}}).receiverEdit().changes() {
		t.Fatal("removing the CA bundle is no edit")
	}
}

func TestTLSInputNeverPrintsTheKey(t *testing.T) {
	in := WebhookInput{Name: "n", TLS: &TLSInput{ClientKey: str("key-s3cret")}}
	for _, out := range []string{fmt.Sprint(in), fmt.Sprintf("%+v", in), fmt.Sprint(*in.TLS), in.TLS.LogValue().String()} {
		if strings.Contains(out, "key-s3cret") {
			t.Errorf("printed the key: %s", out)
		}
	}
}
