package config

import (
	"strings"
	"testing"
)

func TestTracingOffByDefault(t *testing.T) {
	c, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing() || c.OTelTracesExportURL() != "" || c.OTelServiceName != "webhookd" {
		t.Fatalf("tracing on without an endpoint: %+v", c)
	}
}

func TestTracingEndpoints(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		url  string
		on   bool
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example.com/otlp"}, "https://traces.example.com/otlp", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, "http://collector:4318/v1/traces", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, "http://collector:4318/v1/traces", false},
	} {
		c, err := LoadFrom(tc.vars)
		if err != nil {
			t.Fatal(err)
		}
		if c.OTelTracesExportURL() != tc.url || c.Tracing() != tc.on {
			t.Errorf("%v: url %q on %v, want %q %v", tc.vars, c.OTelTracesExportURL(), c.Tracing(), tc.url, tc.on)
		}
	}
}

func TestTracingHeadersAndSampler(t *testing.T) {
	c, err := LoadFrom(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%20ecret,x-team=webhooks",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=traces", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG": "0.25"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.OTelTracesHeaderMap()
	if h["api-key"] != "s ecret" || h["x-team"] != "traces" || len(h) != 2 {
		t.Fatalf("headers %v", h)
	}
	if r, _ := c.OTelSamplerRatio(); r != 0.25 {
		t.Fatalf("ratio %v", r)
	}
	if strings.Contains(c.OTelHeaders.String(), "ecret") {
		t.Fatal("the headers (an API key) print")
	}
}

func TestTracingRejectsWhatItCannotHonour(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL":        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"OTEL_EXPORTER_OTLP_ENDPOINT":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"},
		"OTEL_TRACES_SAMPLER":                {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
		"OTEL_TRACES_SAMPLER_ARG":            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
		"OTEL_EXPORTER_OTLP_HEADERS":         {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
		"OTEL_EXPORTER_OTLP_COMPRESSION":     {"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
		"OTEL_TRACES_EXPORTER":               {"OTEL_TRACES_EXPORTER": "zipkin"},
	} {
		_, err := LoadFrom(vars)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v, want one naming %s", vars, err, name)
		}
		if err != nil && strings.Contains(err.Error(), "novalue") {
			t.Errorf("the error quotes the headers: %v", err)
		}
	}
}
