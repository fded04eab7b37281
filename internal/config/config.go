// Package config reads webhookd's typed configuration from environment
// variables. Every default points at the local stack that `make run` starts.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
)

// Config is every setting of webhookd. The table in docs/configuration.md
// mirrors it; keep them in step.
type Config struct {
	DatabaseURL      string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:55432/webhooks?sslmode=disable"`
	DatabaseMaxConns int    `env:"DATABASE_MAX_CONNS" envDefault:"20"`

	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TaskQueue         string `env:"TEMPORAL_TASK_QUEUE" envDefault:"webhooks"`
	// Connection security to Temporal. TLS is on when TEMPORAL_TLS is true
	// or any TEMPORAL_TLS_* file or TEMPORAL_API_KEY is set; CERT and KEY
	// (a client certificate for mTLS) go together; CA replaces the system
	// roots; the API key is sent as a bearer token (Temporal Cloud).
	TemporalTLS           bool   `env:"TEMPORAL_TLS" envDefault:"false"`
	TemporalTLSCert       string `env:"TEMPORAL_TLS_CERT"`
	TemporalTLSKey        string `env:"TEMPORAL_TLS_KEY"`
	TemporalTLSCA         string `env:"TEMPORAL_TLS_CA"`
	TemporalTLSServerName string `env:"TEMPORAL_TLS_SERVER_NAME"`
	TemporalAPIKey        Secret `env:"TEMPORAL_API_KEY"`
	// TemporalCompression is gzip, none, or auto: none when Temporal is on
	// this machine (compressing loopback traffic costs CPU on both ends
	// and saves nothing), gzip otherwise.
	TemporalCompression string `env:"TEMPORAL_GRPC_COMPRESSION" envDefault:"auto"`

	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// MetricsAddr serves Prometheus metrics at /metrics when set.
	MetricsAddr string `env:"METRICS_ADDR"`
	// PprofAddr serves net/http/pprof on its own listener when set (e.g.
	// 127.0.0.1:6060), for profiling; never expose it publicly.
	PprofAddr    string `env:"PPROF_ADDR"`
	LogLevel     string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat    string `env:"LOG_FORMAT" envDefault:"text"`
	MaxBodyBytes int64  `env:"MAX_BODY_BYTES" envDefault:"300000"`
	MaxEventData int    `env:"MAX_EVENT_DATA_BYTES" envDefault:"262144"`

	// SecretsKey encrypts webhook secrets at rest (AES-256-GCM, 32 bytes as
	// base64 or hex). When empty, SecretsKeyFile is read, and created with a
	// warning when missing: fine for development, not for production.
	SecretsKey     Secret `env:"SECRETS_KEY"`
	SecretsKeyFile string `env:"SECRETS_KEY_FILE" envDefault:".data/run/secrets.key"`

	// AllowHTTP lets callback URLs use plain http:// (off by default).
	AllowHTTP bool `env:"WEBHOOK_ALLOW_HTTP" envDefault:"false"`
	// EgressAllowCIDRs lists non-public networks that callbacks may reach
	// anyway, e.g. 127.0.0.0/8 for local development.
	EgressAllowCIDRs string `env:"EGRESS_ALLOW_CIDRS"`
	// DeliveryProxyURL, http://[user:pass@]host:port, sends every delivery
	// through that forward proxy (HTTP CONNECT), so receivers see its
	// address; empty: direct. Parsed into DeliveryProxy.
	DeliveryProxyURL Secret `env:"DELIVERY_PROXY_URL"`

	// MaxWebhooksPerAccount bounds an account's webhooks: one event fans out
	// to every matching webhook in one workflow, so this bounds its history
	// size, the concurrent deliveries it starts, and an account's cost.
	MaxWebhooksPerAccount int `env:"MAX_WEBHOOKS_PER_ACCOUNT" envDefault:"1000"`

	// Abuse limits, counted by each API process on its own (0 switches one
	// off). Failed authentications per client address protect the key
	// lookup from guessing floods; requests per API key bound one caller's
	// share; tests per webhook bound POST /v1/webhooks/{id}/test, which
	// makes an outbound request (one runs at a time per webhook anyway).
	// Publishing (POST /v1/events) has its own limit, off by default: it is
	// the main job, and the per-key limit sits far below one process's
	// publish capacity; the API's body bounds and the outbox already bound
	// what a publish costs.
	AuthFailuresPerMinute float64 `env:"RATE_LIMIT_AUTH_FAILURES_PER_MINUTE" envDefault:"20"`
	KeyRequestsPerSecond  float64 `env:"RATE_LIMIT_REQUESTS_PER_SECOND" envDefault:"100"`
	KeyRequestsBurst      int     `env:"RATE_LIMIT_REQUESTS_BURST" envDefault:"200"`
	PublishPerSecond      float64 `env:"RATE_LIMIT_PUBLISH_PER_SECOND" envDefault:"0"`
	PublishBurst          int     `env:"RATE_LIMIT_PUBLISH_BURST" envDefault:"1000"`
	WebhookTestsPerMinute float64 `env:"RATE_LIMIT_WEBHOOK_TESTS_PER_MINUTE" envDefault:"6"`
	// TrustedProxyCIDRs lists the reverse proxies whose X-Forwarded-For
	// names the client; without it the peer address is the client (the
	// header is then ignored: anyone could send one).
	TrustedProxyCIDRs string `env:"TRUSTED_PROXY_CIDRS"`

	// Retention is how long events, deliveries and attempts are kept; 0
	// keeps them forever. They are dropped a period (LogPartition) at a
	// time, once the whole period is past it.
	Retention time.Duration `env:"RETENTION" envDefault:"720h"`
	// LogPartition is the period of the log's partitions: week or day
	// (docs/operations.md, "The log: partitions and retention").
	LogPartition string `env:"LOG_PARTITION" envDefault:"week"`

	// Delivery statistics (docs/statistics.md): every worker folds the
	// finished attempts into the rollups every STATS_FOLD_INTERVAL (the
	// statistics are that far behind); hourly rollup rows are kept for
	// STATS_RETENTION_HOURLY, daily ones for STATS_RETENTION_DAILY.
	StatsFoldInterval    time.Duration `env:"STATS_FOLD_INTERVAL" envDefault:"5s"`
	StatsHourlyRetention time.Duration `env:"STATS_RETENTION_HOURLY" envDefault:"48h"`
	StatsDailyRetention  time.Duration `env:"STATS_RETENTION_DAILY" envDefault:"9600h"`
	// AuditRetention is how long the audit log is kept (its own setting:
	// an audit trail usually outlives the delivery log); 0 keeps it
	// forever. The table refuses to lose a record of the last day.
	AuditRetention time.Duration `env:"AUDIT_RETENTION" envDefault:"8760h"`

	DeliveryTimeout      time.Duration `env:"DELIVERY_TIMEOUT" envDefault:"5s"`
	RetrySchedule        string        `env:"DELIVERY_RETRY_SCHEDULE" envDefault:"10s,30s,1m,2m,3m,4m,5m,6m,7m,8m,9m,10m,20m,30m,1h,2h"`
	RetryAfterMax        time.Duration `env:"DELIVERY_RETRY_AFTER_MAX" envDefault:"1h"`
	ResponseBodyMaxBytes int64         `env:"DELIVERY_RESPONSE_MAX_BYTES" envDefault:"4096"`
	WorkerActivitySlots  int           `env:"WORKER_MAX_CONCURRENT_ACTIVITIES" envDefault:"500"`
	// SlotWait is how long an attempt queued at a webhook at its maximum
	// concurrency waits in the worker for a slot before it waits in its
	// workflow (internal/worker/activities/slotwait.go); 0 turns the
	// in-worker wait off.
	SlotWait time.Duration `env:"WORKER_SLOT_WAIT" envDefault:"1s"`
	// ReconcileAfter is how overdue a delivery's next step (its first
	// attempt, or a scheduled retry) may be before the reconciler checks its
	// workflow against the log.
	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"5m"`
	// Endpoint health: a webhook failing continuously this long, or whose
	// last HEALTH_DISABLE_AFTER_EXHAUSTED deliveries all failed for good,
	// is disabled (0 turns that rule off).
	HealthDisableAfter     time.Duration `env:"HEALTH_DISABLE_AFTER" envDefault:"120h"`
	HealthDisableExhausted int           `env:"HEALTH_DISABLE_AFTER_EXHAUSTED" envDefault:"100"`
	WorkerWorkflowPollers  int           `env:"WORKER_WORKFLOW_POLLERS" envDefault:"4"`
	// Throttling: a 429/502/503/504 (or a failed answer with a Retry-After)
	// holds back every delivery to the webhook for THROTTLE_BACKOFF_BASE,
	// doubling with each such answer in a row up to THROTTLE_BACKOFF_MAX
	// (or the Retry-After, when longer).
	ThrottleBackoffBase time.Duration `env:"THROTTLE_BACKOFF_BASE" envDefault:"1s"`
	ThrottleBackoffMax  time.Duration `env:"THROTTLE_BACKOFF_MAX" envDefault:"5m"`
	// A delivery to an ordered webhook waiting for its turn is woken when
	// the delivery before it ends; without a wake-up (one a crash lost) it
	// checks again after 2 s, doubling up to ORDER_RECHECK_MAX.
	OrderRecheckMax time.Duration `env:"ORDER_RECHECK_MAX" envDefault:"5m"`

	// The admin console (package console) at /console. ConsoleBaseURL is
	// the absolute address its sign-in links start with (https:// makes
	// its cookie Secure); ConsoleFrameAncestors is the CSP frame-ancestors
	// source list: who may show it in an iframe. A session ends after
	// ConsoleSessionIdle without a request, or ConsoleSessionMax after
	// sign-in. TemporalUIURL is linked from each event's workflow.
	ConsoleBaseURL        string        `env:"CONSOLE_BASE_URL" envDefault:"http://127.0.0.1:8080"`
	ConsoleFrameAncestors string        `env:"CONSOLE_FRAME_ANCESTORS" envDefault:"'self'"`
	ConsoleSessionIdle    time.Duration `env:"CONSOLE_SESSION_IDLE" envDefault:"30m"`
	ConsoleSessionMax     time.Duration `env:"CONSOLE_SESSION_MAX" envDefault:"12h"`
	TemporalUIURL         string        `env:"TEMPORAL_UI_URL" envDefault:"http://127.0.0.1:8233"`

	// The SMTP server of e-mail notices (package notify; none: e-mail
	// channels' sends fail, recorded as attempts). SMTPTLS is starttls
	// (required), implicit (port 465) or none (a local relay only).
	SMTPHost     string `env:"SMTP_HOST"`
	SMTPPort     int    `env:"SMTP_PORT" envDefault:"587"`
	SMTPTLS      string `env:"SMTP_TLS" envDefault:"starttls"`
	SMTPUsername string `env:"SMTP_USERNAME"`
	SMTPPassword Secret `env:"SMTP_PASSWORD"`
	SMTPFrom     string `env:"SMTP_FROM" envDefault:"esign-webhooks@localhost"`
	// NoticeDigestWindow is how long a channel's notices about one webhook
	// are gathered into one message after the first (sent at once).
	NoticeDigestWindow time.Duration `env:"NOTICE_DIGEST_WINDOW" envDefault:"1h"`

	// OpenTelemetry traces (docs/tracing.md), exported over OTLP/HTTP when
	// OTEL_EXPORTER_OTLP_ENDPOINT (the collector's base URL, /v1/traces is
	// added) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL) is set;
	// off otherwise. The standard variables, read here so manifests are
	// checked against them; the *_TRACES_* forms win over the general ones.
	OTelEndpoint         string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTelTracesEndpoint   string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	OTelProtocol         string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" envDefault:"http/protobuf"`
	OTelTracesProtocol   string `env:"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"`
	OTelHeaders          Secret `env:"OTEL_EXPORTER_OTLP_HEADERS"` // often an API key
	OTelTracesHeaders    Secret `env:"OTEL_EXPORTER_OTLP_TRACES_HEADERS"`
	OTelTimeout          int    `env:"OTEL_EXPORTER_OTLP_TIMEOUT" envDefault:"10000"` // milliseconds
	OTelCompression      string `env:"OTEL_EXPORTER_OTLP_COMPRESSION"`
	OTelServiceName      string `env:"OTEL_SERVICE_NAME" envDefault:"webhookd"`
	OTelResourceAttrs    string `env:"OTEL_RESOURCE_ATTRIBUTES"`
	OTelTracesSampler    string `env:"OTEL_TRACES_SAMPLER" envDefault:"parentbased_always_on"`
	OTelTracesSamplerArg string `env:"OTEL_TRACES_SAMPLER_ARG"`
	OTelTracesExporter   string `env:"OTEL_TRACES_EXPORTER" envDefault:"otlp"`
	OTelSDKDisabled      bool   `env:"OTEL_SDK_DISABLED" envDefault:"false"`

	// OutboxDispatch says which processes start the workflows of stored
	// events when `webhookd api` and `webhookd worker` run apart: workers
	// (each worker starts its share, eagerly: docs/delivery.md, "From the
	// outbox to a workflow") or api (the api process itself, with no eager
	// start). `webhookd serve` is one process, which starts them eagerly.
	OutboxDispatch string `env:"OUTBOX_DISPATCH" envDefault:"workers"`

	// EagerStart asks Temporal to hand a new workflow's first task straight
	// to this process's worker (set by `serve`, where API and worker share
	// one client); it saves a round trip through the task queue.
	EagerStart bool `env:"-"`
	// DispatchInWorkers: this process runs apart from the other role and
	// OUTBOX_DISPATCH is workers (set by Run): an api process names stored
	// events to the workers, a worker starts its share.
	DispatchInWorkers bool `env:"-"`

	// Parsed forms, filled by Load.
	Retries        []time.Duration `env:"-"`
	AllowCIDRs     []netip.Prefix  `env:"-"`
	TrustedProxies []netip.Prefix  `env:"-"`
	DeliveryProxy  egress.Proxy    `env:"-"`
}

// Secret is a setting that must not be printed (a password in a URL): its
// String is "***" when set, so printing or logging a Config hides it.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Load reads the environment and validates it.
func Load() (Config, error) {
	return LoadFrom(nil)
}

// LoadFrom reads settings from vars when non-nil (tests), else the environment.
func LoadFrom(vars map[string]string) (Config, error) {
	var c Config
	opts := env.Options{}
	if vars != nil {
		opts.Environment = vars
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return Config{}, fmt.Errorf("reading configuration: %w", err)
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	var err error
	if c.Retries, err = ParseSchedule(c.RetrySchedule); err != nil {
		errs = append(errs, fmt.Errorf("DELIVERY_RETRY_SCHEDULE: %w", err))
	}
	if c.AllowCIDRs, err = egress.ParseCIDRs(c.EgressAllowCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("EGRESS_ALLOW_CIDRS: %w", err))
	}
	// The error never quotes the URL: it may hold the proxy's password.
	if c.DeliveryProxy, err = egress.ParseProxyURL(string(c.DeliveryProxyURL)); err != nil {
		errs = append(errs, fmt.Errorf("DELIVERY_PROXY_URL: %w", err))
	}
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < 24*time.Hour) {
		errs = append(errs, errors.New("RETENTION must be 0 (keep forever) or at least 24h"))
	}
	if c.LogPartition != "week" && c.LogPartition != "day" {
		errs = append(errs, errors.New("LOG_PARTITION must be week or day"))
	}
	if c.OutboxDispatch != "workers" && c.OutboxDispatch != "api" {
		errs = append(errs, errors.New("OUTBOX_DISPATCH must be workers or api"))
	}
	if c.StatsFoldInterval <= 0 || c.StatsFoldInterval > time.Hour {
		errs = append(errs, errors.New("STATS_FOLD_INTERVAL must be positive and at most 1h"))
	}
	// The windows the API serves: 24 hours by hour, 30 days by day.
	if c.StatsHourlyRetention < 25*time.Hour || c.StatsDailyRetention < 31*24*time.Hour {
		errs = append(errs, errors.New("STATS_RETENTION_HOURLY must be at least 25h and STATS_RETENTION_DAILY at least 744h (31 days)"))
	}
	if c.SMTPTLS != "starttls" && c.SMTPTLS != "implicit" && c.SMTPTLS != "none" {
		errs = append(errs, errors.New("SMTP_TLS must be starttls, implicit or none"))
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		errs = append(errs, errors.New("SMTP_PORT must be a port number"))
	}
	if c.NoticeDigestWindow < time.Second {
		errs = append(errs, errors.New("NOTICE_DIGEST_WINDOW must be at least 1s"))
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < 24*time.Hour) {
		errs = append(errs, errors.New("AUDIT_RETENTION must be 0 (keep forever) or at least 24h"))
	}
	if c.SlotWait < 0 || c.SlotWait > 5*time.Second {
		errs = append(errs, errors.New("WORKER_SLOT_WAIT must be from 0 (off) to 5s (it is spent within an attempt's activity time)"))
	}
	if c.DeliveryTimeout <= 0 {
		errs = append(errs, errors.New("DELIVERY_TIMEOUT must be positive"))
	}
	if c.MaxEventData <= 0 || int64(c.MaxEventData) > c.MaxBodyBytes {
		errs = append(errs, errors.New("MAX_EVENT_DATA_BYTES must be positive and below MAX_BODY_BYTES"))
	}
	if _, err := c.SlogLevel(); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT must be text or json, not %q", c.LogFormat))
	}
	if c.TemporalCompression != "auto" && c.TemporalCompression != "gzip" && c.TemporalCompression != "none" {
		errs = append(errs, fmt.Errorf("TEMPORAL_GRPC_COMPRESSION must be auto, gzip or none, not %q", c.TemporalCompression))
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		errs = append(errs, errors.New("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together"))
	}
	if _, err := c.TemporalTLSConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.TrustedProxies, err = egress.ParseCIDRs(c.TrustedProxyCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXY_CIDRS: %w", err))
	}
	if c.AuthFailuresPerMinute < 0 || c.KeyRequestsPerSecond < 0 || c.KeyRequestsBurst < 0 || c.WebhookTestsPerMinute < 0 ||
		c.PublishPerSecond < 0 || c.PublishBurst < 0 {
		errs = append(errs, errors.New("RATE_LIMIT_* settings must not be negative (0 switches a limit off)"))
	}
	if c.MaxWebhooksPerAccount <= 0 {
		errs = append(errs, errors.New("MAX_WEBHOOKS_PER_ACCOUNT must be positive"))
	}
	if c.ReconcileAfter <= 0 {
		errs = append(errs, errors.New("RECONCILE_AFTER must be positive"))
	}
	if c.HealthDisableAfter < 0 || c.HealthDisableExhausted < 0 {
		errs = append(errs, errors.New("HEALTH_DISABLE_AFTER and HEALTH_DISABLE_AFTER_EXHAUSTED must not be negative"))
	}
	if c.OrderRecheckMax < time.Second {
		errs = append(errs, errors.New("ORDER_RECHECK_MAX must be at least 1s"))
	}
	if c.ThrottleBackoffBase <= 0 || c.ThrottleBackoffMax < c.ThrottleBackoffBase {
		errs = append(errs, errors.New("THROTTLE_BACKOFF_BASE must be positive and THROTTLE_BACKOFF_MAX at least as long"))
	}
	if c.WorkerActivitySlots <= 0 || c.DatabaseMaxConns <= 0 {
		errs = append(errs, errors.New("WORKER_MAX_CONCURRENT_ACTIVITIES and DATABASE_MAX_CONNS must be positive"))
	}
	if u, err := url.Parse(c.ConsoleBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, errors.New("CONSOLE_BASE_URL must be an absolute http(s) URL without a path, e.g. https://webhooks.example.com"))
	}
	c.ConsoleBaseURL = strings.TrimSuffix(c.ConsoleBaseURL, "/")
	c.TemporalUIURL = strings.TrimSuffix(c.TemporalUIURL, "/")
	if strings.ContainsAny(c.ConsoleFrameAncestors, ";,\r\n") || strings.TrimSpace(c.ConsoleFrameAncestors) == "" {
		errs = append(errs, errors.New("CONSOLE_FRAME_ANCESTORS must be a space-separated CSP source list, e.g. 'self' https://app.example.com"))
	}
	errs = append(errs, c.validateOTel()...)
	if c.ConsoleSessionIdle <= 0 || c.ConsoleSessionMax < c.ConsoleSessionIdle {
		errs = append(errs, errors.New("CONSOLE_SESSION_IDLE must be positive and CONSOLE_SESSION_MAX at least as long"))
	}
	return errors.Join(errs...)
}

// ConsoleSecure reports whether the console is served over TLS (its base
// URL is https://): its cookie is then Secure, SameSite=None and
// Partitioned, so it also works inside the product's cross-site iframe.
func (c Config) ConsoleSecure() bool { return strings.HasPrefix(c.ConsoleBaseURL, "https://") }

// TemporalGzip reports whether to gzip gRPC traffic to Temporal.
func (c Config) TemporalGzip() bool {
	switch c.TemporalCompression {
	case "gzip":
		return true
	case "none":
		return false
	}
	host, _, err := net.SplitHostPort(c.TemporalAddress)
	if err != nil {
		host = c.TemporalAddress
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// TemporalTLSConfig builds the TLS settings of the Temporal connection from
// the TEMPORAL_TLS_* settings; nil when TLS is off.
func (c Config) TemporalTLSConfig() (*tls.Config, error) {
	if !c.TemporalTLS && c.TemporalTLSCert == "" && c.TemporalTLSKey == "" && c.TemporalTLSCA == "" &&
		c.TemporalTLSServerName == "" && c.TemporalAPIKey == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSServerName}
	if c.TemporalTLSCert != "" && c.TemporalTLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.TemporalTLSCert, c.TemporalTLSKey)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if c.TemporalTLSCA != "" {
		pem, err := os.ReadFile(c.TemporalTLSCA)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TEMPORAL_TLS_CA: no PEM certificate in %s", c.TemporalTLSCA)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// ParseSchedule parses a comma-separated list of durations.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("invalid duration %q", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// SlogLevel parses LOG_LEVEL.
func (c Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	return l, nil
}

// Logger builds the process logger.
func (c Config) Logger() *slog.Logger {
	level, _ := c.SlogLevel()
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
