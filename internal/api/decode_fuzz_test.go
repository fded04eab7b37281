package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/labstack/echo/v4"
)

// requestTypes are the body of every route that reads JSON, with the
// limits of its route.
var requestTypes = []struct {
	name string
	lim  jsonLimits
	dst  func() any
}{
	{"POST /v1/events", eventBody, func() any { return new(events.Event) }},
	{"POST /v1/webhooks", managementBody, func() any { return new(service.WebhookInput) }},
	{"PATCH /v1/webhooks/{id}", managementBody, func() any { return new(service.WebhookPatch) }},
	{"POST /v1/webhooks/{id}/enable", managementBody, func() any { return new(enableRequest) }},
	{"POST /v1/webhooks/{id}/secret/reset", managementBody, func() any { return new(service.SecretResetInput) }},
	{"POST /v1/api-keys", managementBody, func() any { return new(service.APIKeyInput) }},
	{"POST /v1/console/links", managementBody, func() any { return new(service.ConsoleLinkInput) }},
	{"POST /v1/deliveries/resend", managementBody, func() any { return new(service.BulkResend) }},
	{"POST /v1/webhooks/{id}/release", managementBody, func() any { return new(service.ReleaseInput) }},
	{"POST /v1/webhooks/filter-test", filterTestBody, func() any { return new(service.FilterTest) }},
}

// FuzzDecode: any body, into every request type, answers nil or a client
// error with a stable code (never a panic or a 5xx), and the work stays in
// proportion to the body. make test runs the seeds; make chaos fuzzes.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","callbackUrl":"https://example.com","eventTypes":["ENVELOPE_START"]}`,
		`{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{"envelopeId":"e1"}}`,
		`{"role":"member","role":"admin"}`, `{"data":` + strings.Repeat("[", 5000) + `}`,
		strings.Repeat(`{"a":`, 500), `{"data":{"n":` + strings.Repeat("1", 100) + `}}`,
		`{"eventTypes":[` + strings.Repeat(`"x",`, 2000) + `"x"]}`, `{"a":1}}`, `null`, `"x"`, ``,
		`{"gracePeriodSeconds":1e400}`, `{"since":"2026-13-45T00:00:00Z"}`, "{\"name\":\"\x00\"}",
		`{"timeoutSeconds":1e400,"retrySchedule":{"preset":"fast","x":1}}`, `{"retrySchedule":{"waits":[1,{}]}}`,
		`{"retrySchedule":null,"timeoutSeconds":null,"payload":null}`, `{"retrySchedule":{"waits":"1s"}}`,
		// Receiver options: custom headers and auth (WebhookInput, WebhookPatch).
		`{"headers":[{"name":"X-A","value":"v","secret":true},{"name":"X-B"}],"auth":{"type":"oauth2",` +
			`"tokenUrl":"https://a.example/t","clientId":"c","clientSecret":"s","scopes":["a"],"audience":"x"}}`,
		`{"auth":{"type":"basic","username":"u","password":null,"extra":1}}`, `{"headers":[{"name":1}]}`,
		`{"headers":{"name":"X"}}`, `{"auth":"basic"}`, `{"auth":{"scopes":"a b"}}`, `{"headers":[null,{}]}`,
		// Mutual TLS (TLSInput).
		`{"tls":{"clientCertificate":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----","clientKey":null,"caBundle":""}}`,
		`{"tls":null}`, `{"tls":{}}`, `{"tls":"pem"}`, `{"tls":{"clientKey":1}}`, `{"tls":{"caBundle":["a"],"x":1}}`,
		// Payload filters (WebhookInput, WebhookPatch, FilterTest).
		`{"filter":"event.data.envelopeId.startsWith(\"A\")"}`, `{"filter":null}`, `{"filter":""}`, `{"filter":7}`,
		`{"filter":["event.type"]}`, `{"filter":"` + strings.Repeat(`(`, 3000) + `"}`,
		`{"filter":"event.type == \"ENVELOPE_START\"","event":{"type":"ENVELOPE_START","data":{"envelopeId":"A-1"}}}`,
		`{"filter":"true","event":{"data":[1],"occurredAt":"yesterday"}}`, `{"filter":"true","event":null,"x":1}`,
		`{"filter":"true","event":{"data":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}}`,
	} {
		for i := range requestTypes {
			f.Add(i, []byte(seed))
		}
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, i int, body []byte) {
		rt := requestTypes[uint(i)%uint(len(requestTypes))]
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		req.Body = http.MaxBytesReader(nil, req.Body, 300_000)
		c := e.NewContext(req, httptest.NewRecorder())
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := decodeWithin(c, rt.dst(), rt.lim)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32*uint64(len(body))+512<<10 {
			t.Fatalf("%s: %d bytes allocated for a %d-byte body", rt.name, alloc, len(body))
		}
		if err == nil {
			return
		}
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Status < 400 || apiErr.Status > 499 || apiErr.Code == "" {
			t.Fatalf("%s: %q answered %v, want a 4xx API error", rt.name, body, err)
		}
	})
}
