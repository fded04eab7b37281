package chaos

import (
	"encoding/json"
	"testing"
	"time"
)

// The receivers scenario's checks of a POST's body, on bodies shaped as
// the worker sends them (activities.Payload) for the scenario's events.
func TestPayloadChecks(t *testing.T) {
	body := func(form string, data map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"event": EventType, "eventId": "chaos-1-00007", "triggerSource": TriggerSource,
			"payload": form, "eventPayload": data})
		return b
	}
	full := receiversEventData(7)
	thin := map[string]any{"envelopeId": full["envelopeId"]}
	for _, c := range []struct {
		name       string
		body       []byte
		full, thin bool // passes fullPayload, thinPayload
	}{
		{"full", body("", full), true, false},
		{"thin", body("thin", thin), false, true},
		{"thin form with the full data", body("thin", full), false, false},
		{"thin with more ids", body("thin", map[string]any{"envelopeId": "e", "signerId": "s"}), false, false},
		{"full form without the signer", body("", thin), false, false},
		{"not JSON", []byte("<html>"), false, false},
	} {
		if got := fullPayload(nil, c.body) == ""; got != c.full {
			t.Errorf("%s: fullPayload passes %v, want %v", c.name, got, c.full)
		}
		if got := thinPayload(nil, c.body) == ""; got != c.thin {
			t.Errorf("%s: thinPayload passes %v (%q), want %v", c.name, got, thinPayload(nil, c.body), c.thin)
		}
	}
}

// Which attempt errors are the proxy's own failure: not a CONNECT it
// refused because the target is down.
func TestProxyFailure(t *testing.T) {
	for err, want := range map[string]bool{
		"dial tcp 127.0.0.1:9: dialling proxy 127.0.0.1:7277: connect: connection refused":                                                                 true,
		"oauth2 token endpoint unreachable: dial tcp 127.0.0.1:9: dialling proxy 127.0.0.1:7277: connect: connection refused":                              true,
		"dial tcp 127.0.0.1:9: reading CONNECT answer of proxy 127.0.0.1:7277: EOF":                                                                        true,
		"oauth2 token endpoint unreachable: dial tcp 127.0.0.1:9: proxy refused CONNECT: 500 Unable to connect (proxy 127.0.0.1:7277, target 127.0.0.1:9)": false,
		"timeout: no answer within the attempt timeout":                                                                                                    false,
	} {
		if proxyFailure(err) != want {
			t.Errorf("proxyFailure(%q) = %v", err, !want)
		}
	}
}

func TestSpanAndSample(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	w := span{From: at, To: at.Add(10 * time.Second)}
	for d, want := range map[time.Duration]bool{-3 * time.Second: false, -time.Second: true, 5 * time.Second: true,
		11 * time.Second: true, 13 * time.Second: false} {
		if w.holds(at.Add(d), 2*time.Second) != want {
			t.Errorf("holds(start%+v) = %v", d, !want)
		}
	}
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	if got := sample(ids, 3); len(got) != 3 || got[0] != "a" || got[1] != "d" || got[2] != "g" {
		t.Errorf("sample: %v", got)
	}
	if got := sample(ids, 10); len(got) != 7 {
		t.Errorf("sample of more than there are: %v", got)
	}
}

func TestRedacted(t *testing.T) {
	got := redacted([]string{"DELIVERY_PROXY_URL=http://chaos:s3cret-pw@127.0.0.1:7277", "LOG_LEVEL=debug", "X=http://host:80/p"})
	want := []string{"DELIVERY_PROXY_URL=http://chaos:***@127.0.0.1:7277", "LOG_LEVEL=debug", "X=http://host:80/p"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("redacted %q, want %q", got[i], want[i])
		}
	}
}
