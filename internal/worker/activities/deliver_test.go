package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
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
		{&sentError{errors.New(`Post "http://h/": EOF`)}, SentNoAnswer + `: Post "http://h/": EOF`},
		{&sentError{context.DeadlineExceeded}, "timeout: no answer within the attempt timeout"},
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
		got := webhookUnavailable(db.DeliveryTarget{WebhookExists: tc.exists, WebhookEnabled: tc.enabled}, tc.test)
		if got != tc.want {
			t.Errorf("webhookUnavailable(exists=%v enabled=%v test=%v) = %q, want %q", tc.exists, tc.enabled, tc.test, got, tc.want)
		}
	}
}

// The level toward being disabled is the nearer of the two thresholds.
func TestHealthLevel(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := &Activities{Now: func() time.Time { return now }, Settings: Settings{HealthDisableAfter: 100 * time.Hour, HealthDisableExhausted: 10}}
	since := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tc := range []struct {
		c    db.HealthChange
		want int
	}{
		{db.HealthChange{FailingSince: since(50 * time.Hour)}, 50},
		{db.HealthChange{FailingSince: since(10 * time.Hour), ExhaustedStreak: 9}, 90},
		{db.HealthChange{FailingSince: since(101 * time.Hour), ExhaustedStreak: 1}, 101},
		{db.HealthChange{}, 0},
	} {
		if got := a.healthLevel(tc.c); got != tc.want {
			t.Errorf("%+v: level %d, want %d", tc.c, got, tc.want)
		}
	}
	off := &Activities{Now: a.Now}
	if got := off.healthLevel(db.HealthChange{FailingSince: since(1000 * time.Hour), ExhaustedStreak: 1000}); got != 0 {
		t.Errorf("thresholds off: level %d", got)
	}
}

func TestThrottles(t *testing.T) {
	for _, c := range []struct {
		status     int
		retryAfter time.Duration
		want       bool
	}{
		{429, 0, true}, {502, 0, true}, {503, 0, true}, {504, 0, true},
		{500, 0, false}, {500, time.Second, true}, {404, time.Second, true},
		{200, time.Second, false}, {0, 0, false}, {410, 0, false},
	} {
		if got := throttles(c.status, c.retryAfter); got != c.want {
			t.Errorf("throttles(%d, %s) = %v, want %v", c.status, c.retryAfter, got, c.want)
		}
	}
}

// A full webhook is polled at growing intervals, in stages.
func TestFullWait(t *testing.T) {
	if fullWait(0) != 200*time.Millisecond || fullWait(19) != 3*time.Second || fullWait(20) != 10*time.Second ||
		fullWait(99) != 10*time.Second || fullWait(100) != 30*time.Second || fullWait(1000) != 30*time.Second {
		t.Fatalf("fullWait: %v %v %v %v %v", fullWait(0), fullWait(19), fullWait(20), fullWait(100), fullWait(1000))
	}
}
