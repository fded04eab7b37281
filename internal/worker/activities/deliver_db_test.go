package activities

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// deliveryTo stores an account, a webhook to url and one delivery of an
// event to it, and returns activities set up to deliver it.
func deliveryTo(t *testing.T, url string) (*Activities, db.Delivery) {
	t.Helper()
	a, ds := deliveriesTo(t, url, db.DefaultMaxConcurrency, 1)
	return a, ds[0]
}

// deliveriesTo stores an account, a webhook to url with at most
// maxConcurrency requests in flight and n deliveries to it (an event
// each), and returns activities set up to deliver them.
func deliveriesTo(t *testing.T, url string, maxConcurrency, n int) (*Activities, []db.Delivery) {
	t.Helper()
	ctx := context.Background()
	store := dbtest.NewStore(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := apikey.Generate()
	acct, err := store.CreateAccount(ctx, "Acme", db.PlanProfessional, db.NewAPIKey{Hash: apikey.Hash(k), Prefix: apikey.DisplayPrefix(k)})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := signing.NewSecret()
	id := uuid.New()
	enc, err := box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateWebhook(ctx, id, acct.ID, db.WebhookFields{Name: "h", URL: url,
		EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}, MaxConcurrency: maxConcurrency}, true, enc); err != nil {
		t.Fatal(err)
	}
	var out []db.Delivery
	for i := range n {
		wf := "wf"
		if i > 0 {
			wf = fmt.Sprint("wf-", i)
		}
		ds, err := store.RecordEvent(ctx, db.Event{AccountID: acct.ID, WorkflowID: wf, Event: events.Event{ID: fmt.Sprint("e", i+1),
			Type: "ENVELOPE_START", TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`)}}, []uuid.UUID{id})
		if err != nil || len(ds) != 1 {
			t.Fatalf("recording event: %v (%d deliveries)", err, len(ds))
		}
		out = append(out, ds[0])
	}
	s := Settings{AttemptTimeout: 30 * time.Second, Retries: []time.Duration{time.Second}, ResponseMaxBytes: 64}
	return &Activities{Store: store, Box: box, Settings: s,
		Client: egress.NewClient(egress.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: s.AttemptTimeout})}, out
}

// An attempt interrupted by the activity's own cancellation (worker
// shutting down) is not the receiver's failure: a plain (retryable) error
// goes back to Temporal, and the request's row stays without an outcome
// (the receiver may have it); the retry is the next try of that number.
func TestDeliverInterruptedIsNotAFailedAttempt(t *testing.T) {
	arrived := make(chan struct{}, 1)
	stop := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		if calls.Add(1) > 1 {
			return // the retry: 200
		}
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	a, d := deliveryTo(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := a.Deliver(ctx, DeliverInput{DeliveryID: d.ID.String(), Series: 1, Attempt: 1})
	var appErr *temporal.ApplicationError
	if err == nil || errors.As(err, &appErr) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver returned %v, want a plain cancellation error", err)
	}
	attempts, err := a.Store.Attempts(context.Background(), d.ID)
	if err != nil || len(attempts) != 1 || attempts[0].FinishedAt != nil || attempts[0].Try != 1 {
		t.Fatalf("attempts %+v (%v), want one without an outcome", attempts, err)
	}
	got, _ := a.Store.Delivery(context.Background(), d.AccountID, d.ID)
	if got.Status != delivery.Pending {
		t.Fatalf("status %s, want pending", got.Status)
	}
	// Temporal retries the same attempt number: a second row, try 2.
	if _, err := a.Deliver(context.Background(), DeliverInput{DeliveryID: d.ID.String(), Series: 1, Attempt: 1}); err != nil {
		t.Fatalf("retried attempt: %v", err)
	}
	attempts, _ = a.Store.Attempts(context.Background(), d.ID)
	if len(attempts) != 2 || attempts[1].Try != 2 || attempts[1].FinishedAt == nil || *attempts[1].ResponseStatus != 200 {
		t.Fatalf("attempts after the retry %+v, want the first unfinished and try 2 answered", attempts)
	}
}

// The receiver gets the stored event under the webhook contract's names,
// its time in UTC.
func TestDeliverSendsTheStoredEvent(t *testing.T) {
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer srv.Close()
	a, d := deliveryTo(t, srv.URL)
	if _, err := a.Deliver(context.Background(), DeliverInput{DeliveryID: d.ID.String(), Series: 1, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(<-bodies, &got); err != nil {
		t.Fatal(err)
	}
	at, _ := got["occurredAt"].(string)
	if got["event"] != "ENVELOPE_START" || got["eventId"] != "e1" || got["triggerSource"] != "saas_page" ||
		!strings.HasSuffix(at, "Z") || fmt.Sprint(got["eventPayload"]) != "map[]" || len(got) != 5 {
		t.Fatalf("payload %v", got)
	}
}

func TestDeliverRecordsAFailedAttempt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	a, d := deliveryTo(t, srv.URL)
	_, err := a.Deliver(context.Background(), DeliverInput{DeliveryID: d.ID.String(), Series: 1, Attempt: 1})
	var appErr *temporal.ApplicationError
	var r flow.AttemptResult
	if !errors.As(err, &appErr) || appErr.Type() != ErrAttemptFailed || !appErr.NonRetryable() || appErr.Details(&r) != nil {
		t.Fatalf("Deliver returned %v, want a non-retryable %s", err, ErrAttemptFailed)
	}
	// Retry-After (5s) is longer than the schedule (1s) but RetryAfterMax is 0.
	if r.Outcome != delivery.OutcomeRetry || r.StatusCode != 503 || r.Wait != time.Second {
		t.Fatalf("result %+v", r)
	}
	got, _ := a.Store.Delivery(context.Background(), d.AccountID, d.ID)
	if got.Status != delivery.Retrying || got.AttemptCount != 1 || got.NextAttemptAt == nil {
		t.Fatalf("delivery %+v", got)
	}
}

// A resend only runs for the delivery's own account and its current, not yet
// started series: the exported publish.StartResend cannot be used to resend
// another tenant's delivery or to overwrite an old series' attempts.
func TestPrepareResendChecksAccountAndSeries(t *testing.T) {
	a, d := deliveryTo(t, "http://127.0.0.1:9/unused")
	ctx := context.Background()
	// Series 1 is pending: the API has not moved the delivery to a new series.
	for name, in := range map[string]flow.ResendInput{
		"other account": {AccountID: uuid.NewString(), DeliveryID: d.ID.String(), Series: d.Series},
		"stale series":  {AccountID: d.AccountID.String(), DeliveryID: d.ID.String(), Series: d.Series + 1},
		"bad ids":       {AccountID: "x", DeliveryID: "y", Series: 1},
	} {
		p, err := a.PrepareResend(ctx, in)
		if err != nil || len(p.Deliveries) != 0 || p.Skipped == "" {
			t.Errorf("%s: plan %+v, err %v: want nothing to deliver", name, p, err)
		}
	}
	p, err := a.PrepareResend(ctx, flow.ResendInput{AccountID: d.AccountID.String(), DeliveryID: d.ID.String(), Series: d.Series})
	if err != nil || len(p.Deliveries) != 1 || p.Deliveries[0].WebhookID != d.WebhookID.String() {
		t.Fatalf("own pending series: plan %+v, err %v", p, err)
	}
}

// A retried RecordEvent resumes unfinished deliveries even when their
// webhook no longer matches, and reports a finished one as done.
func TestRecordEventResumesOnlyUnfinished(t *testing.T) {
	a, d := deliveryTo(t, "http://127.0.0.1:9/unused")
	ctx := context.Background()
	ev := db.Event{AccountID: d.AccountID, WorkflowID: "wf", Event: events.Event{ID: d.EventID, Type: "ENVELOPE_START",
		TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`)}}
	ds, err := a.Store.RecordEvent(ctx, ev, nil) // the webhook was disabled meanwhile: nothing matches
	if err != nil || len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("resume: %v %+v", err, ds)
	}
	if err := a.Store.FinishDelivery(ctx, d.ID, d.Series, delivery.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	ds, err = a.Store.RecordEvent(ctx, ev, []uuid.UUID{d.WebhookID})
	if err != nil || len(ds) != 1 || !ds[0].Finished() {
		t.Fatalf("the finished delivery should come back finished: %v %+v", err, ds)
	}
}
