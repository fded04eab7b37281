package chaos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// The receivers scenario (make chaos, after the ordered one): webhooks
// that reach receivers the way enterprise gateways want them reached —
// custom headers with a secret one, Basic, Bearer, OAuth 2.0 client
// credentials against a token endpoint of the harness whose tokens live
// seconds, mutual TLS with a private CA, a webhook's own timeout and
// schedule on a receiver that never accepts, a thin payload — every
// delivery through a real tinyproxy, while the worker and the API are
// SIGKILLed, the token endpoint goes down, tinyproxy is SIGKILLed and
// PostgreSQL stops. Then the fault suite's check, and receiversScenario.verify:
// what each receiver got, what the log says of each attempt, and no
// secret anywhere it must not be (ReceiversResult).

// receiversOptions are the knobs of the receivers scenario.
type receiversOptions struct {
	rate                 float64
	tokenTTL             time.Duration // lifetime of the tokens the endpoint issues
	tokenDown, proxyDown time.Duration
	proxyPort            int
	tinyproxy            string
	timeout              string // DELIVERY_TIMEOUT: well above the schedule webhook's own 1 s
	histories            int    // Temporal histories searched for secrets
}

// The schedule webhook's own retry schedule and timeout.
var scheduleWaits = []string{"1s", "2s", "3s"}

const scheduleTimeoutS = 1

// span is when a fault lasted, by the wall clock the attempt rows use.
type span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// holds says whether t falls within w, give or take slack.
func (w span) holds(t time.Time, slack time.Duration) bool {
	return !t.Before(w.From.Add(-slack)) && !t.After(w.To.Add(slack))
}

// receiversScenario is one run's material: the secrets, the PKI, the token
// endpoint, the proxy, and the faults' windows.
type receiversScenario struct {
	o   options
	ro  receiversOptions
	dir string // logs of this scenario only, searched for secrets

	header, password, bearer, clientSecret string
	ca                                     *testpki.CA
	client                                 testpki.Pair
	clientFP                               string // SHA-256 of the client certificate, hex
	serverTLS                              *tls.Config
	tokens                                 *tokenServer
	proxy                                  *tinyproxy
	tokenDown, proxyDown                   []span
}

// receivers runs the receivers scenario on its own task queue.
func receivers(ctx context.Context, o options, pg *postgres) (int, error) {
	sc, err := newReceiversScenario(ctx, o)
	if sc != nil {
		defer sc.close()
	}
	if err != nil {
		return 1, err
	}
	rep, err := Execute(ctx, sc.config(pg))
	rep.Scenario = "receivers (headers, Basic, Bearer, OAuth 2.0, mutual TLS, a webhook's own schedule, thin payloads; through tinyproxy, under crashes)"
	return report(rep, err, o, "a receiver got a wrong request, the log misnamed an attempt's proxy or certificate, "+
		"a fault left no trace or one outside its span, the schedule webhook did not give up as scheduled, or a secret leaked (see the table)")
}

func newReceiversScenario(ctx context.Context, o options) (*receiversScenario, error) {
	sc := &receiversScenario{o: o, ro: o.receivers, dir: filepath.Join(o.dataDir, "receivers"),
		header: "chaos-hdr-" + randomHex(12), password: "chaos-pw-" + randomHex(12),
		bearer: "chaos-bearer-" + randomHex(12), clientSecret: "chaos-cs-" + randomHex(12)}
	if err := os.RemoveAll(sc.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sc.dir, 0o755); err != nil {
		return nil, err
	}
	if err := sc.pki(); err != nil {
		return nil, err
	}
	var err error
	sc.tokens, err = startTokenServer("chaos-client", sc.clientSecret, "webhooks:receive audit",
		"https://receiver.chaos.test", "chaos-tok-"+randomHex(6), sc.ro.tokenTTL)
	if err != nil {
		return sc, err
	}
	sc.proxy = &tinyproxy{bin: sc.ro.tinyproxy, dir: filepath.Join(sc.dir, "proxy"), port: sc.ro.proxyPort,
		user: "chaos", pass: "chaos-proxy-" + randomHex(8)}
	if err := sc.proxy.start(ctx); err != nil {
		return sc, err
	}
	logf("tinyproxy on %s, token endpoint %s (tokens valid %s), private CA %q", sc.proxy.Addr(), sc.tokens.URL(),
		sc.ro.tokenTTL, sc.ca.Cert.Subject.CommonName)
	return sc, nil
}

// pki makes the private CA, the mTLS receiver's server certificate and the
// webhook's client certificate (testpki, as the e2e tests do).
func (sc *receiversScenario) pki() error {
	var err error
	if sc.ca, err = testpki.Generate("chaos receivers CA"); err != nil {
		return err
	}
	server, err := sc.ca.IssueServer()
	if err != nil {
		return err
	}
	if sc.client, err = sc.ca.IssueClient("esign-webhooks chaos", time.Now().Add(60*24*time.Hour)); err != nil {
		return err
	}
	info, err := clienttls.Describe(sc.client.CertPEM)
	if err != nil {
		return err
	}
	sc.clientFP = info.Fingerprint
	pair, err := tls.X509KeyPair([]byte(server.CertPEM), []byte(server.KeyPEM))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(sc.ca.Cert)
	sc.serverTLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	return nil
}

func (sc *receiversScenario) close() {
	if sc.tokens != nil {
		sc.tokens.Close()
	}
	if sc.proxy != nil {
		sc.proxy.stop()
	}
}

func (sc *receiversScenario) config(pg *postgres) Config {
	o, ro := sc.o, sc.ro
	return Config{
		Bin: o.bin, DatabaseURL: o.dbURL, TemporalAddress: fmt.Sprintf("127.0.0.1:%d", o.temporalPort),
		TaskQueue: "chaos-receivers", APIAddr: o.apiAddr, LogDir: sc.dir,
		RetrySchedule: o.retry, DeliveryTimeout: ro.timeout,
		Env: []string{"DELIVERY_PROXY_URL=" + sc.proxy.URL(),
			// Debug: the secrets must stay out of the most the logs say.
			"LOG_LEVEL=debug",
			// The schedule webhook gives up on every delivery: it must not
			// be disabled for it.
			"HEALTH_DISABLE_AFTER_EXHAUSTED=0", "HEALTH_DISABLE_AFTER=0"},
		Split:     true,
		Receivers: sc.specs(),
		Rate:      ro.rate, MaxEvents: o.maxEvents, GiveUp: 2 * time.Minute, EventData: receiversEventData,
		Warmup: 10 * time.Second,
		Steps: []Step{
			settle(KillWorker(2*time.Second), 8*time.Second),
			settle(sc.tokenEndpointDown(ro.tokenDown), 8*time.Second),
			settle(KillAPI(2*time.Second), 8*time.Second),
			settle(sc.proxyKilled(ro.proxyDown), 8*time.Second),
			settle(pg.down(o.pgDown), 10*time.Second),
		},
		Tail:           5 * time.Second,
		ConvergeWithin: o.converge,
		Quiet:          5 * time.Second,
		Logf:           logf,
		Verify:         sc.verify,
	}
}

// receiversEventData is the data of event i: ids, and the signer's name
// and e-mail address that a thin payload must leave out.
func receiversEventData(i int) map[string]any {
	d := eventData(fmt.Sprintf("env_%06d", i), "seq", i)
	d["signerName"], d["signerEmail"] = fmt.Sprintf("Signer Nr %d", i), fmt.Sprintf("signer-%06d@example.com", i)
	return d
}

// specs are the scenario's webhooks and what each receiver checks.
func (sc *receiversScenario) specs() []ReceiverSpec {
	str := func(s string) *string { return &s }
	timeout := scheduleTimeoutS
	return []ReceiverSpec{
		{Name: "headers-basic", Note: "custom headers X-Tenant and X-Api-Key (secret), Basic auth, full payload",
			Webhook: restclient.WebhookInput{
				Headers: []service.HeaderInput{{Name: "X-Tenant", Value: str("chaos-tenant")},
					{Name: "X-Api-Key", Value: str(sc.header), Secret: true}},
				Auth: &service.AuthInput{Type: "basic", Username: "chaos", Password: str(sc.password)}},
			Expect: all(throughProxy, sc.wantHeadersAndBasic, fullPayload)},
		{Name: "bearer", Note: "Bearer token",
			Webhook: restclient.WebhookInput{Auth: &service.AuthInput{Type: "bearer", Token: str(sc.bearer)}},
			Expect:  all(throughProxy, sc.wantBearer)},
		{Name: "oauth2", Note: fmt.Sprintf("OAuth 2.0 client credentials, tokens valid %s", sc.ro.tokenTTL),
			Webhook: restclient.WebhookInput{Auth: &service.AuthInput{Type: "oauth2", TokenURL: sc.tokens.URL(),
				ClientID: "chaos-client", ClientSecret: str(sc.clientSecret), Scopes: []string{"webhooks:receive", "audit"},
				Audience: "https://receiver.chaos.test"}},
			Expect: all(throughProxy, func(r *http.Request, _ []byte) string { return sc.tokens.checkBearer(r) })},
		{Name: "mtls", TLS: sc.serverTLS,
			Note: "https, a client certificate of a private CA required, its own certificate verified by the CA bundle",
			Webhook: restclient.WebhookInput{TLS: &service.TLSInput{ClientCertificate: str(sc.client.CertPEM),
				ClientKey: str(sc.client.KeyPEM), CABundle: str(sc.ca.PEM)}},
			Expect: all(throughProxy, sc.wantClientCert)},
		{Name: "schedule-timeout", FailPercent: 100, Delay: 3 * time.Second, SlowPercent: 50,
			Note: fmt.Sprintf("its own timeout %d s and schedule %s (%d attempts); never accepts",
				scheduleTimeoutS, strings.Join(scheduleWaits, ","), len(scheduleWaits)+1),
			Webhook: restclient.WebhookInput{TimeoutSeconds: &timeout, RetrySchedule: &schedule.Spec{Waits: scheduleWaits}},
			Expect:  throughProxy},
		{Name: "thin", Note: "thin payload", Webhook: restclient.WebhookInput{Payload: "thin"},
			Expect: all(throughProxy, thinPayload)},
	}
}

// tokenEndpointDown takes the token endpoint down for d: every attempt
// of the oauth2 webhook that needs a token meanwhile fails for it.
func (sc *receiversScenario) tokenEndpointDown(d time.Duration) Step {
	return Step{Name: fmt.Sprintf("OAuth 2.0 token endpoint down %s", d), Do: func(ctx context.Context, r *Run) error {
		w := span{From: time.Now()}
		err := downFor(ctx, sc.tokens, d)
		w.To = time.Now()
		sc.tokenDown = append(sc.tokenDown, w)
		return err
	}}
}

// proxyKilled kill -9s tinyproxy, and starts it again on the same port
// after pause.
func (sc *receiversScenario) proxyKilled(pause time.Duration) Step {
	return Step{Name: fmt.Sprintf("kill -9 tinyproxy, restart after %s", pause), Do: func(ctx context.Context, r *Run) error {
		w := span{From: time.Now()}
		defer func() { w.To = time.Now(); sc.proxyDown = append(sc.proxyDown, w) }()
		if err := sc.proxy.kill9(); err != nil {
			return err
		}
		sleep(ctx, pause)
		return sc.proxy.start(ctx)
	}}
}

// A receiver's checks of a POST: "" when right, else what is wrong
// (never a secret's value).

type postCheck func(r *http.Request, body []byte) string

func all(checks ...postCheck) func(*http.Request, []byte) string {
	return func(r *http.Request, body []byte) string {
		for _, c := range checks {
			if p := c(r, body); p != "" {
				return p
			}
		}
		return ""
	}
}

func throughProxy(r *http.Request, _ []byte) string {
	if ip := remoteIP(r); ip != proxyOut {
		return "came from " + ip + ", not through the proxy (" + proxyOut + ")"
	}
	return ""
}

func (sc *receiversScenario) wantHeadersAndBasic(r *http.Request, _ []byte) string {
	user, pass, ok := r.BasicAuth()
	switch {
	case r.Header.Get("X-Tenant") != "chaos-tenant":
		return fmt.Sprintf("X-Tenant %q", r.Header.Get("X-Tenant"))
	case r.Header.Get("X-Api-Key") != sc.header:
		return "X-Api-Key is not the secret header's value"
	case !ok || user != "chaos" || pass != sc.password:
		return "not the Basic credentials"
	}
	return ""
}

func (sc *receiversScenario) wantBearer(r *http.Request, _ []byte) string {
	if r.Header.Get("Authorization") != "Bearer "+sc.bearer {
		return "not the Bearer token"
	}
	return ""
}

func (sc *receiversScenario) wantClientCert(r *http.Request, _ []byte) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "no client certificate"
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	if fp := hex.EncodeToString(sum[:]); fp != sc.clientFP {
		return "client certificate " + fp + ", not the webhook's"
	}
	return ""
}

// payloadOf reads the members of a POST's body the checks need.
func payloadOf(body []byte) (form string, data map[string]any, err error) {
	var p struct {
		Form string         `json:"payload"`
		Data map[string]any `json:"eventPayload"`
	}
	err = json.Unmarshal(body, &p)
	return p.Form, p.Data, err
}

// fullPayload: the event's data, signer's details included.
func fullPayload(_ *http.Request, body []byte) string {
	form, data, err := payloadOf(body)
	if err != nil || form != "" || data["signerEmail"] == nil {
		return "not a full payload with the signer's details"
	}
	return ""
}

// thinPayload: "payload": "thin" and the envelope id only, nothing of the
// signer anywhere in the body.
func thinPayload(_ *http.Request, body []byte) string {
	form, data, err := payloadOf(body)
	switch {
	case err != nil || form != "thin":
		return fmt.Sprintf("payload %q, not thin", form)
	case len(data) != 1 || data["envelopeId"] == nil:
		return fmt.Sprintf("thin eventPayload has %d members, want the envelopeId only", len(data))
	case strings.Contains(string(body), "@example.com") || strings.Contains(string(body), "Signer Nr"):
		return "the thin POST carries the signer's details"
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
