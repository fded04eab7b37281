package signing

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	// Vector shared by the official Standard Webhooks libraries' test suites
	// (go, python, php, ruby, csharp, java all assert this exact value).
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	return s
}

func verify(t *testing.T, secret string, body []byte, msgID string, ts time.Time, sig string) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	h := http.Header{}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return wh.Verify(body, h)
}

func TestSpecVector(t *testing.T) {
	ts := time.Unix(specTimestamp, 0)
	for _, secret := range []string{specSecret, strings.TrimPrefix(specSecret, SecretPrefix)} {
		got, err := Sign(specMsgID, ts, []byte(specPayload), secret)
		if err != nil {
			t.Fatalf("Sign(%q): %v", secret, err)
		}
		if got != specSignature {
			t.Errorf("Sign(%q) = %q, want %q", secret, got, specSignature)
		}
	}
}

func TestKnownAnswerAgainstOfficialSign(t *testing.T) {
	secret := mustSecret(t)
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"type":"envelope.completed","data":{"id":"env_1"}}`)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	want, err := wh.Sign("msg_abc", ts, body)
	if err != nil {
		t.Fatalf("official Sign: %v", err)
	}
	got, err := Sign("msg_abc", ts, body, secret)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got != want {
		t.Errorf("Sign = %q, official = %q", got, want)
	}
}

func TestHeadersVerifyWithOfficialLibrary(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	ts := time.Now()
	s1, s2 := mustSecret(t), mustSecret(t)

	t.Run("one secret", func(t *testing.T) {
		h, err := Headers("msg_1", ts, body, s1)
		if err != nil {
			t.Fatalf("Headers: %v", err)
		}
		if got, want := h.Get(HeaderID), "msg_1"; got != want {
			t.Errorf("webhook-id = %q, want %q", got, want)
		}
		if got, want := h.Get(HeaderTimestamp), strconv.FormatInt(ts.Unix(), 10); got != want {
			t.Errorf("webhook-timestamp = %q, want %q", got, want)
		}
		if strings.Contains(h.Get(HeaderSignature), " ") {
			t.Errorf("single secret produced multiple signatures: %q", h.Get(HeaderSignature))
		}
		wh, _ := standardwebhooks.NewWebhook(s1)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("Verify: %v", err)
		}
		other, _ := standardwebhooks.NewWebhook(s2)
		if err := other.Verify(body, h); err == nil {
			t.Error("Verify with unrelated secret succeeded")
		}
	})

	t.Run("two secrets", func(t *testing.T) {
		h, err := Headers("msg_2", ts, body, s1, s2)
		if err != nil {
			t.Fatalf("Headers: %v", err)
		}
		parts := strings.Split(h.Get(HeaderSignature), " ")
		if len(parts) != 2 {
			t.Fatalf("want 2 space-separated signatures, got %q", h.Get(HeaderSignature))
		}
		for i, s := range []string{s1, s2} {
			if !strings.HasPrefix(parts[i], "v1,") {
				t.Errorf("signature %d lacks v1 prefix: %q", i, parts[i])
			}
			wh, err := standardwebhooks.NewWebhook(s)
			if err != nil {
				t.Fatalf("NewWebhook: %v", err)
			}
			if err := wh.Verify(body, h); err != nil {
				t.Errorf("secret %d alone failed to verify: %v", i, err)
			}
			// The entry at position i must be exactly this secret's signature.
			single, _ := Sign("msg_2", ts, body, s)
			if parts[i] != single {
				t.Errorf("signature %d = %q, want %q", i, parts[i], single)
			}
		}
	})
}

func TestTamperedFailsVerification(t *testing.T) {
	secret := mustSecret(t)
	ts := time.Now()
	body := []byte(`{"amount":100}`)
	sig, err := Sign("msg_t", ts, body, secret)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := verify(t, secret, body, "msg_t", ts, sig); err != nil {
		t.Fatalf("untampered failed: %v", err)
	}
	if err := verify(t, secret, []byte(`{"amount":900}`), "msg_t", ts, sig); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: err = %v, want ErrNoMatchingSignature", err)
	}
	if err := verify(t, secret, body, "msg_other", ts, sig); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered id: err = %v, want ErrNoMatchingSignature", err)
	}
	if err := verify(t, secret, body, "msg_t", ts.Add(time.Second), sig); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered timestamp: err = %v, want ErrNoMatchingSignature", err)
	}
}

func TestSignErrors(t *testing.T) {
	ts := time.Now()
	if _, err := Sign("m", ts, nil); !errors.Is(err, ErrNoSecrets) {
		t.Errorf("no secrets: err = %v, want ErrNoSecrets", err)
	}
	for _, bad := range []string{"whsec_not*base64!", "%%%", "whsec_", ""} {
		_, err := Sign("m", ts, nil, specSecret, bad)
		if !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("Sign with %q: err = %v, want ErrInvalidSecret", bad, err)
		}
		if _, err := Headers("m", ts, nil, bad); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("Headers with %q: err = %v, want ErrInvalidSecret", bad, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	if a == b {
		t.Fatal("two NewSecret calls returned the same value")
	}
	for _, s := range []string{a, b} {
		if !strings.HasPrefix(s, SecretPrefix) {
			t.Errorf("%q lacks prefix %q", s, SecretPrefix)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if len(raw) != 32 {
			t.Errorf("decoded length = %d, want 32", len(raw))
		}
	}
}
