package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/app"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// consoleLink prints a fresh one-time sign-in link to the admin console for
// an account: what POST /v1/console/links answers, for operators and
// `make run`.
func consoleLink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("console-link", flag.ContinueOnError)
	account := fs.String("account", "", "account id")
	role := fs.String("role", db.RoleAdmin, "admin or member")
	ttl := fs.Duration("ttl", 15*time.Minute, "how long the link can be opened (at most 15m)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := uuid.Parse(*account)
	if err != nil {
		return errors.New("--account must be an account id")
	}
	if *role != db.RoleAdmin && *role != db.RoleMember {
		return fmt.Errorf("--role must be admin or member, not %q", *role)
	}
	if *ttl <= 0 || *ttl > 15*time.Minute {
		return errors.New("--ttl must be between 1s and 15m")
	}
	store, cfg, err := app.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Account(ctx, id); err != nil {
		return fmt.Errorf("account %s: %w", id, err)
	}
	l := db.ConsoleLink{AccountID: id, Role: *role, ExpiresAt: time.Now().Add(*ttl)}
	// On record as an operator's, from this host: no API key asked.
	a := service.NewAudit(service.Caller{AccountID: id, Role: *role, Actor: service.Actor{Type: events.ActorSystem,
		ID: "webhookd console-link", Name: "operator (command line)"}}, service.ActionConsoleLinkCreate, service.ResourceConsoleLink, "")
	a.Entry.Details = db.AuditDetails{"role": *role, "expiresAt": l.ExpiresAt.UTC()}
	link, _, err := service.MintConsoleLink(ctx, store, cfg.ConsoleBaseURL, l, a)
	if err != nil {
		return err
	}
	fmt.Println(link)
	return nil
}
