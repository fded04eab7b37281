package service

import (
	"context"
	"errors"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// PublishEvent validates e (filling its id and time when absent), stores it
// in the outbox and hands it to the dispatcher, which starts its workflow.
// Publishing an id again returns the stored event, created false. Neither
// waits for Temporal.
func (s *Service) PublishEvent(ctx context.Context, c Caller, e events.Event) (db.Event, bool, error) {
	if err := Authorize(c, PublishEvents); err != nil {
		return db.Event{}, false, err
	}
	acct := c.AccountID
	if err := s.workflows.Prepare(&e); err != nil {
		return db.Event{}, false, invalidEvent(err)
	}
	version := events.SchemaVersion(e.Type)
	stored, created, err := s.store.InsertEvent(ctx,
		db.Event{Event: e, AccountID: acct, WorkflowID: flow.EventWorkflowID(acct.String(), e.ID), SchemaVersion: &version,
			// The request's span: the outbox starts the workflow in its trace.
			TraceParent: tracing.TraceParent(ctx)})
	if err != nil {
		return db.Event{}, false, err
	}
	if stored.DispatchedAt == nil {
		// New, or a retry of one whose workflow has not recorded it yet.
		s.outbox.Enqueue(stored)
	}
	return stored, created, nil
}

// invalidEvent is the Invalid error of an event's validation error, each
// problem with its JSON pointer (data's against its type's schema).
func invalidEvent(err error) error {
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &Error{Kind: Invalid, Message: "The request has invalid fields; see fields.", Fields: ve.Fields()}
	for _, p := range ve.Problems {
		out.Problems = append(out.Problems, Problem{Field: p.Field, Pointer: p.Pointer, Message: p.Message})
	}
	return out
}
