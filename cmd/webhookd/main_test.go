package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
)

func TestAccountsCreate(t *testing.T) {
	dbURL := dbtest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dbURL)

	for _, args := range [][]string{
		{"accounts", "create", "--plan", "professional"},
		{"accounts", "create", "--name", "Acme", "--plan", "gold"},
		{"accounts", "delete"},
		{"frobnicate"},
	} {
		if err := realMain(context.Background(), args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}

	out := captureStdout(t, func() error {
		return realMain(context.Background(), []string{"accounts", "create", "--name", "Acme", "--plan", "basic"})
	})
	var got struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not the documented JSON: %v", out, err)
	}
	store, err := db.Open(context.Background(), dbURL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	k, err := store.Authenticate(context.Background(), apikey.Hash(got.APIKey))
	if err != nil {
		t.Fatalf("printed key does not authenticate: %v", err)
	}
	if k.AccountID != uuid.MustParse(got.AccountID) || k.Role != db.RoleAdmin || k.Plan != db.PlanBasic {
		t.Fatalf("key belongs to %+v", k)
	}
	// The first key is on the audit log, by webhookd itself, never the key.
	var recs []db.AuditEntry
	if err := store.DB().Select(&recs, `SELECT * FROM audit_log WHERE account_id = $1`, k.AccountID); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Action != "api_key.create" || recs[0].ResourceID != k.KeyID.String() ||
		recs[0].ActorType != "system" || recs[0].Details["accountName"] != "Acme" || recs[0].Details["role"] != db.RoleAdmin {
		t.Fatalf("audit records: %+v", recs)
	}
	if b, _ := json.Marshal(recs[0]); strings.Contains(string(b), got.APIKey) {
		t.Fatal("the audit record holds the key")
	}
}

func captureStdout(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	runErr := fn()
	os.Stdout = orig
	w.Close()
	b, _ := io.ReadAll(r)
	if runErr != nil {
		t.Fatal(runErr)
	}
	return strings.TrimSpace(string(b))
}
