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
	acct, err := store.CreateAccount(ctx, *name, *plan, db.NewAPIKey{
		Label: "created by webhookd accounts create", Hash: apikey.Hash(key), Prefix: apikey.DisplayPrefix(key),
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]string{"accountId": acct.ID.String(), "apiKey": key})
}
