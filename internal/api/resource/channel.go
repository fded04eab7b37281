package resource

import (
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// Channel is a notification channel as the API and the console show it:
// never its URL (it holds the platform's token) or its secret, only the
// URL's host and whether it signs.
type Channel struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	Language    string      `json:"language"`
	Recipients  []string    `json:"recipients"`
	URLHint     string      `json:"urlHint"`
	Signed      bool        `json:"signed"`
	NoticeTypes []string    `json:"noticeTypes"`
	Enabled     bool        `json:"enabled"`
	LastResult  *LastResult `json:"lastResult"`
	CreatedAt   time.Time   `json:"createdAt"`
	UpdatedAt   time.Time   `json:"updatedAt"`
}

// LastResult is the outcome of the last send to a channel.
type LastResult struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// ChannelNotice is a notice owed to a channel, and what became of it.
type ChannelNotice struct {
	EventID   string     `json:"eventId"`
	EventType string     `json:"eventType"`
	WebhookID string     `json:"webhookId,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"lastError,omitempty"`
}

// FromChannel shows c.
func FromChannel(c db.Channel) Channel {
	out := Channel{ID: c.ID.String(), Name: c.Name, Kind: c.Kind, Language: c.Language, Recipients: nonNil(c.Recipients),
		URLHint: c.URLHint, Signed: c.SecretEnc != nil, NoticeTypes: nonNil(c.NoticeTypes), Enabled: c.Enabled,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if c.LastSentAt != nil && c.LastOK != nil {
		out.LastResult = &LastResult{At: c.LastSentAt.UTC(), OK: *c.LastOK, Error: c.LastError}
	}
	return out
}

// FromChannelNotice shows n.
func FromChannelNotice(n db.ChannelNotice) ChannelNotice {
	return ChannelNotice{EventID: n.EventID, EventType: n.EventType, WebhookID: n.WebhookID, CreatedAt: n.CreatedAt.UTC(),
		SentAt: utc(n.SentAt), Attempts: n.Attempts, LastError: n.LastError}
}
