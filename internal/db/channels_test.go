package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// A channel's page shows its last result beside its notices' attempts: a
// send recorded while the page is read must show in both or in neither.
// The sends alternate between failing and succeeding, so a read made of
// two moments (the channel before a send, the notices after it) is caught
// as a disagreement.
func TestChannelAndItsNoticesAreReadAtOneMoment(t *testing.T) {
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	ch, err := store.CreateChannel(ctx, db.Channel{ID: uuid.New(), AccountID: acct.ID, Name: "ops", Kind: "email",
		Language: "en", Recipients: []string{"ops@example.com"}, NoticeTypes: []string{events.WebhookFailing}, Enabled: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.PublishSystemEvent(ctx, db.SystemEvent{AccountID: acct.ID, ID: "failing-1",
		Type: events.WebhookFailing, Data: map[string]any{"webhookId": "w"}}); err != nil {
		t.Fatal(err)
	}
	_, notices, err := store.ChannelWithNotices(ctx, acct.ID, ch.ID, 20)
	if err != nil || len(notices) != 1 {
		t.Fatalf("notices %+v, %v: want the one owed", notices, err)
	}
	id := notices[0].ID

	const sends = 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range sends {
			var sendErr error
			if i%2 == 0 {
				sendErr = errors.New("the platform answered HTTP 503")
			}
			if err := store.RecordNoticeAttempt(ctx, ch.ID, []uuid.UUID{id}, time.Now(), sendErr); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for done := false; !done; reads++ {
		c, ns, err := store.ChannelWithNotices(ctx, acct.ID, ch.ID, 20)
		if err != nil {
			t.Fatal(err)
		}
		n := ns[0]
		done = n.Attempts == sends
		if n.Attempts == 0 {
			continue
		}
		// An odd count of attempts ends with a failed one.
		ok := c.LastOK != nil && *c.LastOK
		if failed := n.Attempts%2 == 1; ok == failed || (n.LastError != "") != failed {
			t.Fatalf("read %d: the channel's last result (ok %v, %q) disagrees with its notice (%d attempts, %q)",
				reads, ok, c.LastError, n.Attempts, n.LastError)
		}
	}
	wg.Wait()
	if _, _, err := store.ChannelWithNotices(ctx, uuid.New(), ch.ID, 20); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("another account's read: %v, want ErrNotFound", err)
	}
}
