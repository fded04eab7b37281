package service

import (
	"errors"
	"net/http"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/google/uuid"
)

// Kind is what went wrong, for a client to act on; the API turns each into
// its status and stable code, the console into its message.
type Kind int

// Kinds of Error.
const (
	NotFound         Kind = iota + 1
	Invalid               // Fields names each invalid input
	WebhookEnabled        // edit and delete only while disabled
	WebhookDisabled       // sending needs the webhook enabled
	Conflict              // the state does not allow it now
	LimitReached          // the account's webhook limit
	Confirmation          // a destructive operation was not confirmed
	RateLimited           // RetryAfter says when to come back
	Unavailable           // PostgreSQL or Temporal cannot be reached
	Timeout               // a synchronous operation did not finish in time
	DeliveryFailed        // a test send did not get a 2xx
	Forbidden             // the caller's role may not do this
	PlanNotSupported      // the account's plan has no webhooks
)

// Error is every domain error. Message is for people; it never holds a
// secret.
type Error struct {
	Kind    Kind
	Message string
	Fields  map[string]string
	// Problems are Fields with their JSON pointers into the request, in
	// order, when the input was a JSON document checked as one (an event).
	Problems   []Problem
	RetryAfter time.Duration
}

// Problem is one invalid input: its field (as in Fields), its JSON pointer
// in the request and what is wrong.
type Problem struct {
	Field, Pointer, Message string
}

func (e *Error) Error() string { return e.Message }

// Status is the HTTP status of an error of kind k, for the API and the
// console alike (500 for an unknown kind).
func (k Kind) Status() int {
	if st, ok := statuses[k]; ok {
		return st
	}
	return http.StatusInternalServerError
}

var statuses = map[Kind]int{
	NotFound:         http.StatusNotFound,
	Invalid:          http.StatusUnprocessableEntity,
	WebhookEnabled:   http.StatusConflict,
	WebhookDisabled:  http.StatusConflict,
	Conflict:         http.StatusConflict,
	LimitReached:     http.StatusUnprocessableEntity,
	Confirmation:     http.StatusPreconditionRequired,
	RateLimited:      http.StatusTooManyRequests,
	Unavailable:      http.StatusServiceUnavailable,
	Timeout:          http.StatusGatewayTimeout,
	DeliveryFailed:   http.StatusBadGateway,
	Forbidden:        http.StatusForbidden,
	PlanNotSupported: http.StatusForbidden,
}

// ParseID reads the id of a what in a path; a malformed id is simply not
// found.
func ParseID(s, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, notFound(what)
	}
	return id, nil
}

func fail(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

func invalid(field, problem string) *Error { return invalidFields(map[string]string{field: problem}) }

// invalidFields names each invalid input and what is wrong with it.
func invalidFields(fields map[string]string) *Error {
	return &Error{Kind: Invalid, Message: "The request has invalid fields; see fields.", Fields: fields}
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
