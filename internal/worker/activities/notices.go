package activities

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
)

// Notices to people (issue 23): the digest workflow of a channel and a
// webhook calls SendNotices with the notices it gathered; one message
// carries them all (a digest when several), in the channel's language,
// never through the webhook they are about. Each call is one attempt,
// recorded on the notices and as the channel's last result; an error makes
// Temporal retry it.

// Noticer is what notices need beside the store: the sender and the
// console's address for links.
type Noticer struct {
	Sender      *notify.Sender
	ConsoleBase string
}

// SendNoticesInput names a channel and the notices to send it.
type SendNoticesInput struct {
	ChannelID string
	NoticeIDs []string
}

// SendNotices sends the notices of in not sent yet to their channel as one
// message. A channel deleted meanwhile, or notices all sent, is nothing
// to do.
func (a *Activities) SendNotices(ctx context.Context, in SendNoticesInput) error {
	if a.Notices.Sender == nil {
		return errors.New("this worker sends no notices (no notifier)")
	}
	chID, err := uuid.Parse(in.ChannelID)
	if err != nil {
		return nil // not ours to retry
	}
	ch, err := a.Store.ChannelByID(ctx, chID)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, 0, len(in.NoticeIDs))
	for _, s := range in.NoticeIDs {
		if id, err := uuid.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	rows, err := a.Store.Notices(ctx, ids)
	if err != nil {
		return err
	}
	var todo []uuid.UUID
	var ns []notify.Notice
	for _, r := range rows {
		if r.SentAt != nil {
			continue
		}
		var n notify.Notice
		_ = json.Unmarshal(r.Data, &n) // the engine's own data: its schema is tested
		n.Type = r.EventType
		todo, ns = append(todo, r.ID), append(ns, n)
	}
	if len(ns) == 0 {
		return nil
	}
	u, secret, err := ch.Open(a.Box.Open)
	if err != nil {
		return err
	}
	target := notify.Channel{Kind: ch.Kind, Recipients: ch.Recipients, URL: u, Secret: secret}
	sendErr := a.Notices.Sender.Send(ctx, target, notify.Digest(ch.Language, a.Notices.ConsoleBase, ns))
	if err := a.Store.RecordNoticeAttempt(ctx, ch.ID, todo, a.now(), sendErr); err != nil {
		a.log().Warn("recording a notice attempt", "channelId", ch.ID, "err", err)
	}
	return sendErr
}
