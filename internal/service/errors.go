package service

import (
	"errors"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// Kind is what went wrong, for a client to act on; the API turns each into
// its status and stable code, the console into its message.
type Kind int

// Kinds of Error.
const (
	NotFound        Kind = iota + 1
	Invalid              // Fields names each invalid input
	WebhookEnabled       // edit and delete only while disabled
	WebhookDisabled      // sending needs the webhook enabled
	Conflict             // the state does not allow it now
	LimitReached         // the account's webhook limit
	Confirmation         // a destructive operation was not confirmed
	RateLimited          // RetryAfter says when to come back
	Unavailable          // PostgreSQL or Temporal cannot be reached
	Timeout              // a synchronous operation did not finish in time
	DeliveryFailed       // a test send did not get a 2xx
)

// Error is every domain error. Message is for people; it never holds a
// secret.
type Error struct {
	Kind       Kind
	Message    string
	Fields     map[string]string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func fail(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

func invalid(field, problem string) *Error {
	return &Error{Kind: Invalid, Message: "The request has invalid fields; see fields.", Fields: map[string]string{field: problem}}
}

func notFound(what string) *Error { return fail(NotFound, what+" not found") }

// notFoundOr maps the store's ErrNotFound to a NotFound error.
func notFoundOr(err error, what string) error {
	if errors.Is(err, db.ErrNotFound) {
		return notFound(what)
	}
	return err
}

// ErrWebhookEnabled is the rule of the settings page: edit and delete only
// while disabled.
var ErrWebhookEnabled = fail(WebhookEnabled, "Disable the webhook first: it can be edited or deleted only while disabled.")

func mustBeDisabled(w db.Webhook) error {
	if w.Enabled {
		return ErrWebhookEnabled
	}
	return nil
}
