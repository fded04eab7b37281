package benchlog_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/benchlog"
)

// A small make bench-log: every search of the API reads the index made for
// it (or, for a value common in the account, the account's newest-first
// one), never a whole partition, and a time range only the partitions it
// covers; each plan is printed. Retention drops the oldest period and
// deletes a day as the full run does.
func TestSmallLog(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a database")
	}
	store := dbtest.NewStore(t)
	ctx := context.Background()
	r, err := benchlog.Run(ctx, store, benchlog.Spec{Attempts: 60_000, Days: 30, Accounts: 50, Seed: 0.42},
		benchlog.Settings{Queries: 20, Explain: 5, HotPath: 20, Partition: "week"}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Searches {
		t.Logf("%s: indexes %v, %d of %d periods\n%s", s.Name, s.Indexes, s.Partitions, s.PartitionsAll, s.Plan)
		if len(s.Problems) > 0 {
			t.Errorf("%s: %s", s.Name, strings.Join(s.Problems, "; "))
		}
		if s.MeanRows == 0 {
			t.Errorf("%s found nothing", s.Name)
		}
	}
	if r.Rows.Attempts < 50_000 || r.Rows.Attempts > 70_000 {
		t.Errorf("%d attempts, want about 60,000", r.Rows.Attempts)
	}
	if d := r.Retention.Drop; d.Rows.Attempts == 0 {
		t.Errorf("dropped %s with no attempts", d.Period)
	}
	if x := r.Retention.Delete; x.Rows.Attempts == 0 {
		t.Errorf("deleted a day of no attempts")
	}
	if n, err := store.DB().Exec(`SELECT 1 FROM pg_class WHERE relname = $1`, r.Retention.Drop.Period); err != nil {
		t.Fatal(err)
	} else if k, _ := n.RowsAffected(); k != 0 {
		t.Errorf("%s is still there", r.Retention.Drop.Period)
	}
	path, err := benchlog.Write(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	benchlog.Print(&report, r)
	t.Log(report.String())
}
