package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Tracing reports whether traces are exported: an OTLP endpoint is set,
// the exporter is otlp and the SDK is not disabled.
func (c Config) Tracing() bool {
	return c.OTelTracesExportURL() != "" && c.OTelTracesExporter == "otlp" && !c.OTelSDKDisabled
}

// OTelTracesExportURL is the URL spans are posted to: the traces endpoint
// as given, or the general endpoint with /v1/traces added (the OTLP
// exporter specification's rule); "" when neither is set.
func (c Config) OTelTracesExportURL() string {
	if c.OTelTracesEndpoint != "" {
		return c.OTelTracesEndpoint
	}
	if c.OTelEndpoint == "" {
		return ""
	}
	return strings.TrimSuffix(c.OTelEndpoint, "/") + "/v1/traces"
}

// OTelTracesHeaderMap parses the exporter's headers (key=value pairs,
// comma-separated, values URL-encoded), the traces ones over the general.
func (c Config) OTelTracesHeaderMap() (map[string]string, error) {
	out := map[string]string{}
	for _, src := range []Secret{c.OTelHeaders, c.OTelTracesHeaders} {
		for _, pair := range strings.Split(string(src), ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			k, v, ok := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			val, err := url.PathUnescape(strings.TrimSpace(v))
			if !ok || k == "" || err != nil {
				// Never quote the pair: it may hold a key.
				return nil, errors.New("OTEL_EXPORTER_OTLP_HEADERS: each header must be key=value, comma-separated")
			}
			out[k] = val
		}
	}
	return out, nil
}

// OTelSamplerRatio is the ratio of a traceidratio sampler (1 for the
// others).
func (c Config) OTelSamplerRatio() (float64, error) {
	if !strings.HasSuffix(c.OTelTracesSampler, "traceidratio") {
		return 1, nil
	}
	if c.OTelTracesSamplerArg == "" {
		return 1, nil
	}
	r, err := strconv.ParseFloat(c.OTelTracesSamplerArg, 64)
	if err != nil || r < 0 || r > 1 {
		return 0, errors.New("OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1")
	}
	return r, nil
}

// validateOTel checks the OpenTelemetry settings this process honours.
func (c Config) validateOTel() []error {
	var errs []error
	for name, v := range map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.OTelEndpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.OTelTracesEndpoint} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL, e.g. http://otel-collector:4318", name))
		}
	}
	proto := c.OTelProtocol
	if c.OTelTracesProtocol != "" {
		proto = c.OTelTracesProtocol
	}
	if proto != "http/protobuf" {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported, not %q", proto))
	}
	if c.OTelTracesExporter != "otlp" && c.OTelTracesExporter != "none" {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER must be otlp or none, not %q", c.OTelTracesExporter))
	}
	if c.OTelCompression != "" && c.OTelCompression != "gzip" && c.OTelCompression != "none" {
		errs = append(errs, errors.New("OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none"))
	}
	if c.OTelTimeout <= 0 {
		errs = append(errs, errors.New("OTEL_EXPORTER_OTLP_TIMEOUT must be a positive number of milliseconds"))
	}
	switch c.OTelTracesSampler {
	case "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio":
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER %q is not one of always_on, always_off, traceidratio and their parentbased_ forms", c.OTelTracesSampler))
	}
	if _, err := c.OTelSamplerRatio(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.OTelTracesHeaderMap(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// OTelTracesHost is the export URL's host, for logs (never the URL: it may
// carry credentials).
func (c Config) OTelTracesHost() string {
	u, err := url.Parse(c.OTelTracesExportURL())
	if err != nil {
		return ""
	}
	return u.Host
}
