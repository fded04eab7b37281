package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Notification channels (issue 23, docs/notices.md): where an account's
// health notices go besides its webhooks — e-mail recipients or a team
// chat's robot. A chat's URL holds the platform's token and is sealed
// like a webhook's secret, as is a signing secret; neither is ever shown.

// NoticeTypes are the notices a channel can choose: the engine's health
// notices (not AUDIT_LOGGED: the audit log streams through webhooks).
var NoticeTypes = []string{events.WebhookFailing, events.WebhookDisabled, events.WebhookRecovered,
	events.DeliveryExhausted, events.WebhookCertificateExpiring}

// Bounds of a channel.
const (
	MaxChannels      = 20
	maxRecipients    = 20
	maxChannelSecret = 200
)

// ChannelInput is a new channel: POST /v1/notification-channels.
type ChannelInput struct {
	Name       string   `json:"name" validate:"notblank,max=100,nocontrol"`
	Kind       string   `json:"kind" validate:"required,oneof=email dingtalk wecom feishu slack teams"`
	Language   string   `json:"language" validate:"omitempty,oneof=en zh-CN"`
	Recipients []string `json:"recipients" validate:"omitempty,max=20,unique,dive,email,max=254"`
	// URL is a chat's webhook URL; Secret its signing secret (DingTalk,
	// Feishu). Both are write-only.
	URL         string   `json:"url" validate:"omitempty,max=2048"`
	Secret      *string  `json:"secret" validate:"omitnil,max=200,nocontrol"`
	NoticeTypes []string `json:"noticeTypes" validate:"omitempty,unique,dive,noticetype"`
	Enabled     *bool    `json:"enabled"`
}

// String keeps the URL and the secret out of anything printed.
func (in ChannelInput) String() string { return "channel(" + in.Kind + " " + in.Name + ")" }

// ChannelPatch edits a channel: PATCH /v1/notification-channels/{id}.
// Absent fields keep their value; "secret": "" removes the secret.
type ChannelPatch struct {
	Name        *string  `json:"name" validate:"omitnil,notblank,max=100,nocontrol"`
	Language    *string  `json:"language" validate:"omitnil,oneof=en zh-CN"`
	Recipients  []string `json:"recipients" validate:"omitempty,max=20,unique,dive,email,max=254"`
	URL         *string  `json:"url" validate:"omitnil,max=2048"`
	Secret      *string  `json:"secret" validate:"omitnil,max=200,nocontrol"`
	NoticeTypes []string `json:"noticeTypes" validate:"omitempty,unique,dive,noticetype"`
	Enabled     *bool    `json:"enabled"`
}

// String keeps the URL and the secret out of anything printed.
func (p ChannelPatch) String() string { return "channel patch" }

// CreateChannel stores a channel.
func (s *Service) CreateChannel(ctx context.Context, c Caller, in ChannelInput) (db.Channel, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Channel{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := s.check(in); err != nil {
		return db.Channel{}, err
	}
	ch := db.Channel{ID: uuid.New(), AccountID: c.AccountID, Name: in.Name, Kind: in.Kind, Language: in.Language,
		Recipients: in.Recipients, NoticeTypes: in.NoticeTypes, Enabled: in.Enabled == nil || *in.Enabled}
	if ch.Language == "" {
		ch.Language = "en"
	}
	if len(ch.NoticeTypes) == 0 {
		ch.NoticeTypes = NoticeTypes
	}
	if err := s.setChannelTarget(&ch, in.Recipients != nil, &in.URL, in.Secret); err != nil {
		return db.Channel{}, err
	}
	if n, err := s.store.ListChannels(ctx, c.AccountID); err != nil {
		return db.Channel{}, err
	} else if len(n) >= MaxChannels {
		return db.Channel{}, fail(LimitReached, fmt.Sprintf("An account has at most %d notification channels.", MaxChannels))
	}
	a := NewAudit(c, ActionChannelCreate, ResourceChannel, ch.ID.String())
	a.Entry.Changes = ChannelChanges(db.Channel{}, ch)
	out, err := s.store.CreateChannel(ctx, ch, a)
	if errorsIsConflict(err) {
		return db.Channel{}, invalid("name", "is already used by another channel of this account")
	}
	if err != nil {
		return db.Channel{}, err
	}
	s.Logged(a)
	return out, nil
}

// setChannelTarget checks and seals ch's target: recipients for e-mail,
// else the URL and the secret (nil: keep; "": none).
func (s *Service) setChannelTarget(ch *db.Channel, recipientsGiven bool, rawURL, secret *string) error {
	bad := map[string]string{}
	if ch.Kind == notify.Email {
		if len(ch.Recipients) == 0 {
			bad["recipients"] = "is required for an e-mail channel: at least one address"
		}
		for _, r := range ch.Recipients {
			if a, err := mail.ParseAddress(r); err != nil || a.Name != "" {
				bad["recipients"] = "must be plain e-mail addresses"
			}
		}
		if rawURL != nil && *rawURL != "" {
			bad["url"] = "is for chat channels: an e-mail channel has recipients"
		}
		if secret != nil && *secret != "" {
			bad["secret"] = "is for DingTalk and Feishu channels only"
		}
		return invalidOrNil(bad)
	}
	if recipientsGiven && len(ch.Recipients) > 0 {
		bad["recipients"] = "are for e-mail channels: a chat channel has a url"
	}
	if rawURL != nil {
		switch err := s.checkCallbackURL(*rawURL); {
		case *rawURL == "":
			bad["url"] = "is required: the chat robot's webhook URL"
		case err != nil:
			bad["url"] = err.Error()
		default:
			enc, err := s.box.Seal([]byte(*rawURL), db.ChannelURLAAD(ch.ID))
			if err != nil {
				return fmt.Errorf("sealing a channel's url: %w", err)
			}
			u, _ := url.Parse(*rawURL)
			ch.URLEnc, ch.URLHint = enc, u.Scheme+"://"+u.Host+"/…"
		}
	}
	if secret != nil {
		switch {
		case *secret != "" && !notify.Signed(ch.Kind):
			bad["secret"] = "is for DingTalk and Feishu channels only (their signature security setting)"
		case *secret == "":
			ch.SecretEnc = nil
		default:
			enc, err := s.box.Seal([]byte(*secret), db.ChannelSecretAAD(ch.ID))
			if err != nil {
				return fmt.Errorf("sealing a channel's secret: %w", err)
			}
			ch.SecretEnc = enc
		}
	}
	return invalidOrNil(bad)
}

// Channels lists the account's channels.
func (s *Service) Channels(ctx context.Context, c Caller) ([]db.Channel, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return nil, err
	}
	return s.store.ListChannels(ctx, c.AccountID)
}

// Channel is one channel of the account, with its latest notices.
func (s *Service) Channel(ctx context.Context, c Caller, id uuid.UUID) (db.Channel, []db.ChannelNotice, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Channel{}, nil, err
	}
	ch, log, err := s.store.ChannelWithNotices(ctx, c.AccountID, id, 20)
	if err != nil {
		return db.Channel{}, nil, notFoundOr(err, "notification channel")
	}
	return ch, log, nil
}

// UpdateChannel edits a channel.
func (s *Service) UpdateChannel(ctx context.Context, c Caller, id uuid.UUID, p ChannelPatch) (db.Channel, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Channel{}, err
	}
	if err := s.check(p); err != nil {
		return db.Channel{}, err
	}
	a := NewAudit(c, ActionChannelUpdate, ResourceChannel, id.String())
	ch, err := s.store.UpdateChannel(ctx, c.AccountID, id, func(ch *db.Channel) error {
		if p.Name != nil {
			ch.Name = strings.TrimSpace(*p.Name)
		}
		if p.Language != nil {
			ch.Language = *p.Language
		}
		if p.Recipients != nil {
			ch.Recipients = p.Recipients
		}
		if p.NoticeTypes != nil {
			ch.NoticeTypes = p.NoticeTypes
		}
		if p.Enabled != nil {
			ch.Enabled = *p.Enabled
		}
		return s.setChannelTarget(ch, p.Recipients != nil, p.URL, p.Secret)
	}, ChannelChanges, a)
	if errorsIsConflict(err) {
		return db.Channel{}, invalid("name", "is already used by another channel of this account")
	}
	if err != nil {
		return db.Channel{}, notFoundOr(err, "notification channel")
	}
	s.Logged(a)
	return ch, nil
}

// DeleteChannel deletes a channel and the notices it was owed.
func (s *Service) DeleteChannel(ctx context.Context, c Caller, id uuid.UUID) error {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return err
	}
	a := NewAudit(c, ActionChannelDelete, ResourceChannel, id.String())
	if err := s.store.DeleteChannel(ctx, c.AccountID, id, a); err != nil {
		return notFoundOr(err, "notification channel")
	}
	s.Logged(a)
	return nil
}

// ChannelTest is what a test notice did.
type ChannelTest struct {
	Channel db.Channel
	Err     *Error // DeliveryFailed: why it did not reach the channel
}

// TestChannel sends a test notice now and records the result as the
// channel's last; a failure to reach the platform is the answer, not an
// error of the call.
func (s *Service) TestChannel(ctx context.Context, c Caller, id uuid.UUID) (ChannelTest, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return ChannelTest{}, err
	}
	ch, err := s.store.Channel(ctx, c.AccountID, id)
	if err != nil {
		return ChannelTest{}, notFoundOr(err, "notification channel")
	}
	if ok, wait := s.tests.Take("channel:" + id.String()); !ok {
		return ChannelTest{}, &Error{Kind: RateLimited, RetryAfter: wait, Message: "Too many tests of this channel; try again later."}
	}
	if err := s.record(ctx, NewAudit(c, ActionChannelTest, ResourceChannel, id.String())); err != nil {
		return ChannelTest{}, err
	}
	target, err := s.ChannelTarget(ch)
	if err != nil {
		return ChannelTest{}, err
	}
	sendCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	sendErr := s.notifier.Send(sendCtx, target, notify.Test(ch.Language, s.cfg.ConsoleBaseURL))
	if err := s.store.RecordChannelResult(context.WithoutCancel(ctx), id, s.now(), sendErr); err != nil {
		return ChannelTest{}, err
	}
	if ch, err = s.store.Channel(ctx, c.AccountID, id); err != nil {
		return ChannelTest{}, err
	}
	out := ChannelTest{Channel: ch}
	if sendErr != nil {
		out.Err = fail(DeliveryFailed, "The test notice did not reach the channel: "+sendErr.Error())
	}
	return out, nil
}

// ChannelTarget opens a channel's sealed URL and secret.
func (s *Service) ChannelTarget(ch db.Channel) (notify.Channel, error) {
	u, secret, err := ch.Open(s.box.Open)
	return notify.Channel{Kind: ch.Kind, Recipients: ch.Recipients, URL: u, Secret: secret}, err
}

// ChannelChanges is what changed in a channel, its URL and secret only
// as changed.
func ChannelChanges(before, after db.Channel) db.AuditChanges {
	out := db.AuditChanges{}
	field := func(name string, b, a any) {
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if !bytes.Equal(bj, aj) {
			ch := events.Change{After: aj}
			if before.ID != uuid.Nil {
				ch.Before = bj
			}
			out[name] = ch
		}
	}
	field("name", before.Name, after.Name)
	field("kind", before.Kind, after.Kind)
	field("language", before.Language, after.Language)
	field("recipients", nonNilStrings(before.Recipients), nonNilStrings(after.Recipients))
	field("noticeTypes", nonNilStrings(before.NoticeTypes), nonNilStrings(after.NoticeTypes))
	field("enabled", before.Enabled, after.Enabled)
	field("urlHint", before.URLHint, after.URLHint)
	if !bytes.Equal(before.URLEnc, after.URLEnc) {
		out["url"] = events.Change{Changed: true}
	}
	if !bytes.Equal(before.SecretEnc, after.SecretEnc) {
		out["secret"] = events.Change{Changed: true}
	}
	return out
}

func errorsIsConflict(err error) bool { return errors.Is(err, db.ErrConflict) }

// isNoticeType reports whether t is a notice a channel can choose.
func isNoticeType(t string) bool { return slices.Contains(NoticeTypes, t) }
