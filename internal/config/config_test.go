package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Retries) != 16 || c.Retries[0] != 10*time.Second || c.Retries[15] != 2*time.Hour {
		t.Fatalf("default schedule = %v, want the product's 16 retries from 10s to 2h", c.Retries)
	}
	var total time.Duration
	for _, d := range c.Retries {
		total += d
	}
	if total != 4*time.Hour+45*time.Minute+40*time.Second {
		t.Fatalf("schedule spans %s, want about 4h46m", total)
	}
	if c.DeliveryTimeout != 5*time.Second || c.AllowHTTP || len(c.AllowCIDRs) != 0 {
		t.Fatalf("unsafe or wrong defaults: timeout %s, allowHTTP %v, allow %v", c.DeliveryTimeout, c.AllowHTTP, c.AllowCIDRs)
	}
	if c.SlotWait != time.Second {
		t.Fatalf("WORKER_SLOT_WAIT default %s, want 1s", c.SlotWait)
	}
	if c.LogPartition != "week" {
		t.Fatalf("LOG_PARTITION default %q, want week", c.LogPartition)
	}
	if c.MaxWebhooksPerAccount != 1000 {
		t.Fatalf("MAX_WEBHOOKS_PER_ACCOUNT default %d, want 1000", c.MaxWebhooksPerAccount)
	}
	if !strings.Contains(c.DatabaseURL, "127.0.0.1:55432") || c.TemporalAddress != "127.0.0.1:7233" {
		t.Fatalf("defaults do not point at make run's stack: %s %s", c.DatabaseURL, c.TemporalAddress)
	}
}

func TestOverridesAndErrors(t *testing.T) {
	c, err := LoadFrom(map[string]string{
		"DELIVERY_RETRY_SCHEDULE": "100ms, 1s",
		"EGRESS_ALLOW_CIDRS":      "127.0.0.0/8,::1",
		"WEBHOOK_ALLOW_HTTP":      "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Retries) != 2 || c.Retries[1] != time.Second || len(c.AllowCIDRs) != 2 || !c.AllowHTTP {
		t.Fatalf("overrides not applied: %+v", c)
	}

	_, err = LoadFrom(map[string]string{
		"DELIVERY_RETRY_SCHEDULE": "10s,soon",
		"EGRESS_ALLOW_CIDRS":      "not-a-cidr",
		"LOG_LEVEL":               "loud",
		"LOG_FORMAT":              "xml",
		"LOG_PARTITION":           "month",
		"WORKER_SLOT_WAIT":        "6s",
	})
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for _, name := range []string{"DELIVERY_RETRY_SCHEDULE", "EGRESS_ALLOW_CIDRS", "LOG_LEVEL", "LOG_FORMAT", "LOG_PARTITION", "WORKER_SLOT_WAIT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestTemporalTLSSettings(t *testing.T) {
	c, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := c.TemporalTLSConfig(); tc != nil || err != nil {
		t.Fatalf("TLS on by default: %v %v", tc, err)
	}
	// An API key alone means TLS with the system roots (Temporal Cloud).
	c, err = LoadFrom(map[string]string{"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS_SERVER_NAME": "ns.tmprl.cloud"})
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := c.TemporalTLSConfig(); err != nil || tc == nil || tc.ServerName != "ns.tmprl.cloud" || tc.RootCAs != nil {
		t.Fatalf("API key without TLS settings: %+v %v", tc, err)
	}
	for name, vars := range map[string]map[string]string{
		"TEMPORAL_TLS_KEY":  {"TEMPORAL_TLS_CERT": "client.pem"},
		"TEMPORAL_TLS_CERT": {"TEMPORAL_TLS_KEY": "client.key"},
		"TEMPORAL_TLS_CA":   {"TEMPORAL_TLS_CA": "/nonexistent/ca.pem"},
	} {
		if _, err := LoadFrom(vars); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v does not name %s", vars, err, name)
		}
	}
	notPEM := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFrom(map[string]string{"TEMPORAL_TLS_CA": notPEM}); err == nil {
		t.Error("a CA file without a certificate accepted")
	}
}

func TestTemporalGzip(t *testing.T) {
	for _, tc := range []struct {
		addr, setting string
		want          bool
	}{
		{"127.0.0.1:7233", "auto", false},
		{"localhost:7233", "auto", false},
		{"[::1]:7233", "auto", false},
		{"temporal.internal:7233", "auto", true},
		{"10.0.0.5:7233", "auto", true},
		{"127.0.0.1:7233", "gzip", true},
		{"temporal.internal:7233", "none", false},
	} {
		c, err := LoadFrom(map[string]string{"TEMPORAL_ADDRESS": tc.addr, "TEMPORAL_GRPC_COMPRESSION": tc.setting})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.TemporalGzip(); got != tc.want {
			t.Errorf("%s %s: gzip %v, want %v", tc.addr, tc.setting, got, tc.want)
		}
	}
	if _, err := LoadFrom(map[string]string{"TEMPORAL_GRPC_COMPRESSION": "brotli"}); err == nil {
		t.Error("brotli accepted")
	}
}

func TestDeliveryProxy(t *testing.T) {
	c, err := LoadFrom(map[string]string{})
	if err != nil || c.DeliveryProxy.IsSet() {
		t.Fatalf("a proxy by default: %v %v", c.DeliveryProxy, err)
	}
	c, err = LoadFrom(map[string]string{"DELIVERY_PROXY_URL": "http://hookuser:s3cret@proxy.internal:3128"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DeliveryProxy.Addr() != "proxy.internal:3128" {
		t.Fatalf("proxy %v", c.DeliveryProxy)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", c, "url", c.DeliveryProxyURL)
	if out := fmt.Sprintf("%v %+v %#v", c, c, c) + logs.String(); strings.Contains(out, "s3cret") || strings.Contains(out, "hookuser") {
		t.Errorf("printing the configuration shows the proxy's credentials: %s", out)
	}
	_, err = LoadFrom(map[string]string{"DELIVERY_PROXY_URL": "https://hookuser:s3cret@proxy.internal"})
	if err == nil || !strings.Contains(err.Error(), "DELIVERY_PROXY_URL") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want it to name DELIVERY_PROXY_URL without the password", err)
	}
}

// The secrets in the configuration never print: %v, %+v, %#v or slog.
func TestSecretsDoNotPrint(t *testing.T) {
	key := "c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMhISE="
	c, err := LoadFrom(map[string]string{"SECRETS_KEY": key, "TEMPORAL_API_KEY": "temporal-api-key-value"})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.SecretsKey) != key || string(c.TemporalAPIKey) != "temporal-api-key-value" {
		t.Fatalf("secrets not loaded: %q %q", string(c.SecretsKey), string(c.TemporalAPIKey))
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", c)
	if out := fmt.Sprintf("%v %+v %#v", c, c, c) + logs.String(); strings.Contains(out, key) || strings.Contains(out, "temporal-api-key-value") {
		t.Errorf("printing the configuration shows a secret: %s", out)
	}
}

func TestStatsSettings(t *testing.T) {
	c, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.StatsFoldInterval != 5*time.Second || c.StatsHourlyRetention != 48*time.Hour || c.StatsDailyRetention != 400*24*time.Hour {
		t.Fatalf("statistics defaults: fold %s, hourly %s, daily %s", c.StatsFoldInterval, c.StatsHourlyRetention, c.StatsDailyRetention)
	}
	for name, v := range map[string]string{"STATS_FOLD_INTERVAL": "0s", "STATS_RETENTION_HOURLY": "24h",
		"STATS_RETENTION_DAILY": "720h"} {
		_, err := LoadFrom(map[string]string{name: v})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
}
