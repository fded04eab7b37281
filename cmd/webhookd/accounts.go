package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/esign-webhooks/esign-webhooks/internal/app"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// accounts implements `accounts create`: a new account and its first admin key.
func accounts(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: webhookd accounts create --name NAME --plan trial|basic|professional")
	}
	fs := flag.NewFlagSet("accounts create", flag.ContinueOnError)
	name := fs.String("name", "", "account name")
	plan := fs.String("plan", db.PlanProfessional, "trial, basic or professional")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	switch *plan {
	case db.PlanTrial, db.PlanBasic, db.PlanProfessional:
	default:
		return fmt.Errorf("--plan must be trial, basic or professional, not %q", *plan)
	}
	store, _, err := app.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	key, err := apikey.Generate()
	if err != nil {
		return err
	}
	// The first admin key is on the audit log like any key, created by
	// webhookd itself (no key or session exists yet).
	const label = "created by webhookd accounts create"
	a := service.NewAudit(service.Caller{}, service.ActionAPIKeyCreate, service.ResourceAPIKey, "")
	a.Entry.ActorName = "webhookd accounts create"
	a.Entry.Details = db.AuditDetails{"role": db.RoleAdmin, "label": label, "prefix": apikey.DisplayPrefix(key),
		"accountName": *name, "plan": *plan}
	acct, err := store.CreateAccount(ctx, *name, *plan, db.NewAPIKey{
		Label: label, Hash: apikey.Hash(key), Prefix: apikey.DisplayPrefix(key), Audit: a,
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]string{"accountId": acct.ID.String(), "apiKey": key})
}
