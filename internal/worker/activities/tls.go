package activities

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// tlsClients is embedded in Activities: per webhook with TLS options, the
// egress client built with them, kept while the material is the same (its
// connections stay warm) and replaced when an edit changes it.
type tlsClients struct {
	tlsMu   sync.Mutex
	tlsByID map[uuid.UUID]tlsClient
	noticed sync.Map // ids of the certificate expiry notices published
}

type tlsClient struct {
	material [sha256.Size]byte // of the stored certificate, sealed key and CA bundle
	client   *http.Client
}

// clientFor is the client that sends t's requests: the egress client, or
// for a webhook with TLS options one made from it with them.
func (a *Activities) clientFor(t db.DeliveryTarget) (*http.Client, error) {
	if !t.HasTLS() {
		return a.Client, nil
	}
	sum := materialOf(t.Receiver)
	a.tlsMu.Lock()
	defer a.tlsMu.Unlock()
	old, ok := a.tlsByID[t.WebhookID]
	if ok && old.material == sum {
		return old.client, nil
	}
	c, err := a.newTLSClient(t)
	if err != nil {
		return nil, err
	}
	if ok {
		old.client.CloseIdleConnections()
	}
	if a.tlsByID == nil {
		a.tlsByID = map[uuid.UUID]tlsClient{}
	}
	a.tlsByID[t.WebhookID] = tlsClient{material: sum, client: c}
	return c, nil
}

// newTLSClient opens t's client key and builds the client. A key that does
// not open is the operator's problem (a wrong secretbox key), as for the
// signing secret: a plain error, which Temporal retries.
func (a *Activities) newTLSClient(t db.DeliveryTarget) (*http.Client, error) {
	var key []byte
	if t.ClientCert != "" {
		var err error
		if key, err = a.Box.Open(t.ClientKeyEnc, db.ClientKeyAAD(t.WebhookID)); err != nil {
			return nil, fmt.Errorf("decrypting the client key: %w", err)
		}
	}
	cfg, err := clienttls.Config(t.ClientCert, string(key), t.CABundle)
	if err != nil {
		return nil, err
	}
	return egress.WithTLS(a.Client, cfg)
}

// materialOf identifies r's TLS material without holding it in clear.
func materialOf(r db.Receiver) [sha256.Size]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.ClientCert), r.ClientKeyEnc, []byte(r.CABundle)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// certificateNotice publishes WEBHOOK_CERTIFICATE_EXPIRING when an attempt
// of t finds its client certificate within clienttls.ExpiryWarning of its
// expiry: once per certificate (the event id holds its fingerprint, and
// the store keeps one event per id; the process remembers what it
// published so later attempts skip the insert). A failure is logged only:
// the attempt's request has gone out, and a retried activity would send it
// again.
func (a *Activities) certificateNotice(ctx context.Context, t db.DeliveryTarget) {
	if t.ClientCert == "" {
		return
	}
	info, err := clienttls.Describe(t.ClientCert)
	if err != nil || !info.ExpiringSoon(a.now()) {
		return
	}
	id := "webhook-certificate-expiring." + t.WebhookID.String() + "." + info.Fingerprint
	if _, done := a.noticed.Load(id); done {
		return
	}
	n := notify.Notice{WebhookID: t.WebhookID.String(), WebhookName: t.WebhookName, URL: t.URL,
		Message: "The client certificate " + info.Subject + " (SHA-256 " + info.Fingerprint + ") expires at " +
			info.NotAfter.Format(time.RFC3339) + ": upload a renewed one before then."}
	e, ok, err := a.Store.PublishSystemEvent(ctx, db.SystemEvent{AccountID: t.AccountID, ID: id,
		Type: events.WebhookCertificateExpiring, Data: n})
	if err == nil {
		err = a.announce(ctx, e, ok)
	}
	if err != nil {
		a.log().Warn("publishing the certificate expiry notice", "webhook", t.WebhookID, "err", err)
		return
	}
	a.noticed.Store(id, true)
}
