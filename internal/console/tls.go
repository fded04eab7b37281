package console

import (
	"net/http"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// tlsForm is the mutual TLS part of the add/edit form: the client
// certificate, its key and a private CA bundle. The key is never
// rendered (not even after an error); the certificate and the CA bundle
// are public and shown back as typed. On an edit, an empty box keeps what
// is stored, and a checkbox removes it.
type tlsForm struct {
	ClientCert, CABundle string // as typed
	// Stored: what the webhook has (edit form).
	StoredCert *resource.ClientCertificate
	StoredCAs  int
	RemoveCert bool
	RemoveCA   bool

	clientKey string // typed: read, never rendered
}

func (tf *tlsForm) readTLS(r *http.Request) {
	tf.ClientCert, tf.CABundle = r.PostFormValue("tlsClientCert"), r.PostFormValue("tlsCaBundle")
	tf.clientKey = r.PostFormValue("tlsClientKey")
	tf.RemoveCert, tf.RemoveCA = r.PostFormValue("tlsRemoveCert") != "", r.PostFormValue("tlsRemoveCa") != ""
}

// fillTLS shows a webhook's TLS options in the edit form.
func (tf *tlsForm) fillTLS(wh resource.Webhook) {
	tf.StoredCert, tf.StoredCAs = wh.TLS.ClientCertificate, wh.TLS.CACertificates
}

// tls is the section for the service: nil when nothing was typed or
// ticked (all kept); an empty key box keeps the stored key, which the
// service allows while the certificate is the stored one.
func (tf *tlsForm) tls() *service.TLSInput {
	in := &service.TLSInput{}
	switch {
	case tf.RemoveCert:
		in.ClientCertificate = ptr("")
	case strings.TrimSpace(tf.ClientCert) != "":
		in.ClientCertificate = ptr(tf.ClientCert)
	}
	if strings.TrimSpace(tf.clientKey) != "" && !tf.RemoveCert {
		in.ClientKey = ptr(tf.clientKey)
	}
	switch {
	case tf.RemoveCA:
		in.CABundle = ptr("")
	case strings.TrimSpace(tf.CABundle) != "":
		in.CABundle = ptr(tf.CABundle)
	}
	if *in == (service.TLSInput{}) {
		return nil
	}
	return in
}

func ptr(s string) *string { return &s }
