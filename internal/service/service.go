// Package service is what the REST API and the console both do to webhooks,
// deliveries and events: the rules and the orchestration (test sends,
// resends, enabling with replay, secret resets), over the store and the
// workflow client, answering in domain errors (Error). Handlers parse their
// input, call one method and render its answer.
package service

import (
	"log/slog"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/ratelimit"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
)

// Outbox is the api process's outbox: it starts the workflows of stored
// events and stops the pending deliveries of a webhook, in the background.
type Outbox interface {
	Enqueue(e db.Event)
	StopDeliveries(webhookID uuid.UUID, reason string)
}

// Deps are what the services need.
type Deps struct {
	Config config.Config
	Log    *slog.Logger
	Store  *db.Store
	Box    *secretbox.Box
	// Workflows starts, signals and looks up workflows.
	Workflows *workflowclient.Client
	Outbox    Outbox
	Now       func() time.Time // time.Now when nil
}

// Service holds the dependencies of every operation.
type Service struct {
	cfg       config.Config
	log       *slog.Logger
	store     *db.Store
	box       *secretbox.Box
	workflows *workflowclient.Client
	outbox    Outbox
	now       func() time.Time
	validate  *validator.Validate

	// Test sends are outbound requests on an admin's say-so: one at a
	// time per webhook and a few a minute (nil: no limit).
	tests         *ratelimit.Limiters
	testsInFlight sync.Map // webhook id → struct{}

	// notifier sends test notices to notification channels.
	notifier *notify.Sender
}

// New builds the services.
func New(d Deps) *Service {
	s := &Service{cfg: d.Config, log: d.Log, store: d.Store, box: d.Box, workflows: d.Workflows, outbox: d.Outbox, now: d.Now,
		tests: ratelimit.New(d.Config.WebhookTestsPerMinute/60, int(min(3, max(1, d.Config.WebhookTestsPerMinute))), 0)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.validate = s.newValidator()
	s.notifier = NewNotifier(d.Config)
	return s
}

// NewNotifier is the sender of notices cfg describes: chat requests
// through the egress guard (EGRESS_ALLOW_CIDRS, DELIVERY_PROXY_URL), e-mail
// through SMTP_*.
func NewNotifier(cfg config.Config) *notify.Sender {
	return &notify.Sender{
		HTTP: egress.NewClient(egress.Options{AllowCIDRs: cfg.AllowCIDRs, Timeout: 15 * time.Second, Proxy: cfg.DeliveryProxy}),
		SMTP: notify.SMTP{Host: cfg.SMTPHost, Port: cfg.SMTPPort, TLS: cfg.SMTPTLS, Username: cfg.SMTPUsername,
			Password: string(cfg.SMTPPassword), From: cfg.SMTPFrom},
	}
}
