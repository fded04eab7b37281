package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/db"
	"github.com/esign-webhooks/esign-webhooks/egress"
	"github.com/esign-webhooks/esign-webhooks/flow"
)

func TestNextWait(t *testing.T) {
	for _, tc := range []struct {
		scheduled, retryAfter, max, want time.Duration
	}{
		{10 * time.Second, 0, time.Hour, 10 * time.Second},               // no Retry-After
		{10 * time.Second, 5 * time.Second, time.Hour, 10 * time.Second}, // shorter: the schedule wins
		{10 * time.Second, 2 * time.Minute, time.Hour, 2 * time.Minute},  // longer: honoured
		{10 * time.Second, 24 * time.Hour, time.Hour, time.Hour},         // bounded by max
		{2 * time.Hour, 24 * time.Hour, time.Hour, 2 * time.Hour},        // never below the schedule
		{10 * time.Second, 30 * time.Second, 0, 10 * time.Second},        // max 0: Retry-After ignored
		{0, 3 * time.Second, 2 * time.Second, 2 * time.Second},           // bounded, above a zero schedule
		{time.Second, time.Second + time.Millisecond, time.Hour, time.Second + time.Millisecond},
	} {
		if got := nextWait(tc.scheduled, tc.retryAfter, tc.max); got != tc.want {
			t.Errorf("nextWait(%s, %s, %s) = %s, want %s", tc.scheduled, tc.retryAfter, tc.max, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 30 ", 30 * time.Second},
		{"-5", 0},
		{"99999999999", 24 * time.Hour}, // capped at a day
		{"1.5", 0},                      // not delay-seconds, not a date
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second}, // IMF-fixdate
		{now.Add(time.Hour).Format(time.RFC850), time.Hour},                   // obsolete RFC 850 form
		{now.Add(10 * time.Second).Format(time.ANSIC), 10 * time.Second},      // asctime form
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},                    // in the past
		{now.Format(http.TimeFormat), 0},                                      // now
	} {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestAttemptMessage(t *testing.T) {
	for _, tc := range []struct {
		r    flow.AttemptResult
		want string
	}{
		{flow.AttemptResult{StatusCode: 500, DurationMS: 12, Wait: 10 * time.Second},
			"HTTP 500 Internal Server Error after 12 ms; next attempt in 10s"},
		{flow.AttemptResult{StatusCode: 410, DurationMS: 3, Reason: "receiver answered 410 Gone: no more attempts"},
			"HTTP 410 Gone after 3 ms (receiver answered 410 Gone: no more attempts)"},
		{flow.AttemptResult{DurationMS: 5000, Error: "timeout: no answer within the attempt timeout", Wait: time.Minute},
			"no response after 5000 ms: timeout: no answer within the attempt timeout; next attempt in 1m0s"},
		{flow.AttemptResult{Error: "refused", Reason: "callback address is not allowed (non-public network)"},
			"no response after 0 ms: refused (callback address is not allowed (non-public network))"},
		{flow.AttemptResult{StatusCode: 302, DurationMS: 1}, "HTTP 302 Found after 1 ms"},
	} {
		if got := attemptMessage(tc.r); got != tc.want {
			t.Errorf("attemptMessage(%+v)\n got %q\nwant %q", tc.r, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", egress.ErrBlockedAddress), "refused: callback resolves to a non-public address"},
		{context.DeadlineExceeded, "timeout: no answer within the attempt timeout"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout: no answer within the attempt timeout"},
		{errors.New("connection refused"), "connection refused"},
	} {
		if got := describe(tc.err); got != tc.want {
			t.Errorf("describe(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCancelReason(t *testing.T) {
	for _, tc := range []struct {
		exists, enabled, test bool
		want                  string
	}{
		{true, true, false, ""},
		{true, false, false, "webhook was disabled"},
		{true, false, true, ""}, // a test event goes to a disabled webhook too
		{false, false, false, "webhook was deleted"},
		{false, false, true, "webhook was deleted"},
	} {
		got := cancelReason(db.DeliveryTarget{WebhookExists: tc.exists, WebhookEnabled: tc.enabled}, tc.test)
		if got != tc.want {
			t.Errorf("cancelReason(exists=%v enabled=%v test=%v) = %q, want %q", tc.exists, tc.enabled, tc.test, got, tc.want)
		}
	}
}
