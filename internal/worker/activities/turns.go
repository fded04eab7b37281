package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Ordered delivery (db/ordering.go): a delivery to an ordered webhook takes
// its turn before its first attempt and passes it on when it ends.

// TurnInput names a delivery taking or passing its turn; Waits counts the
// times it has waited for this turn so far.
type TurnInput struct {
	DeliveryID string
	Series     int
	Waits      int `json:",omitempty"`
}

// TurnResult is TakeTurn's answer: Go, or what the delivery waits for and
// how long before it checks again if no wake-up (SignalTurn) comes first.
type TurnResult struct {
	Go                 bool
	WaitingForEvent    string        `json:",omitempty"`
	WaitingForDelivery string        `json:",omitempty"`
	Recheck            time.Duration `json:",omitempty"`
}

// firstRecheck is a waiting delivery's first check without a wake-up; each
// later one waits twice as long, up to Settings.TurnRecheckMax.
const firstRecheck = 2 * time.Second

func (a *Activities) recheck(waits int) time.Duration {
	limit := a.Settings.TurnRecheckMax
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	d := firstRecheck
	for range min(waits, 20) {
		d *= 2
	}
	return min(d, limit)
}

// TakeTurn decides whether the delivery may make its first attempt now;
// if not, it is noted as waiting, with this workflow to wake (SignalTurn).
func (a *Activities) TakeTurn(ctx context.Context, in TurnInput) (TurnResult, error) {
	id, err := uuid.Parse(in.DeliveryID)
	if err != nil {
		return TurnResult{Go: true}, nil // its attempt says what is wrong
	}
	t, err := a.Store.TakeTurn(ctx, id, in.Series, activity.GetInfo(ctx).WorkflowExecution.ID)
	if err != nil {
		return TurnResult{}, err
	}
	out := TurnResult{Go: t.Go, WaitingForEvent: t.WaitingForEvent}
	if !t.Go {
		out.Recheck = a.recheck(in.Waits)
	}
	if t.WaitingForDelivery != nil {
		out.WaitingForDelivery = t.WaitingForDelivery.String()
	}
	return out, nil
}

// PassTurn wakes the deliveries waiting for this one, which has ended.
func (a *Activities) PassTurn(ctx context.Context, in TurnInput) error {
	id, err := uuid.Parse(in.DeliveryID)
	if err != nil {
		return nil
	}
	return a.wakeWaiters(ctx, func() ([]db.TurnWaiter, error) { return a.Store.WaitersForDeliveries(ctx, []uuid.UUID{id}) })
}

// wakeWaiters signals the workflow of each delivery list finds. A signal
// that does not arrive only delays a waiter until its next check.
func (a *Activities) wakeWaiters(ctx context.Context, list func() ([]db.TurnWaiter, error)) error {
	if a.Workflows == nil {
		return nil
	}
	waiters, err := list()
	if err != nil {
		return fmt.Errorf("finding deliveries waiting for their turn: %w", err)
	}
	for _, w := range waiters {
		if err := a.Workflows.SignalTurn(ctx, w.WorkflowID, flow.Turn{DeliveryID: w.DeliveryID.String()}); err != nil {
			a.log().Debug("waking a delivery waiting for its turn", "deliveryId", w.DeliveryID, "err", err)
		}
	}
	return nil
}
