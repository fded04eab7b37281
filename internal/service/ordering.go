package service

import (
	"context"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Released is what releasing a held key did: the failed deliveries that no
// longer hold it, and how many waiting deliveries were woken.
type Released struct {
	Deliveries []uuid.UUID
	Woken      int
}

// ReleaseKey lets an ordered webhook's key go past its failed deliveries
// ("hold"): the next waiting delivery of the key goes now. The failed ones
// stay failed, and can still be resent.
func (s *Service) ReleaseKey(ctx context.Context, c Caller, webhookID uuid.UUID, in ReleaseInput) (Released, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return Released{}, err
	}
	if err := s.check(in); err != nil {
		return Released{}, err
	}
	if _, err := s.Webhook(ctx, c, webhookID); err != nil {
		return Released{}, err
	}
	a := NewAudit(c, ActionKeyRelease, ResourceWebhook, webhookID.String())
	ids, err := s.store.ReleaseKey(ctx, c.AccountID, webhookID, in.OrderingKey, a)
	if err != nil {
		return Released{}, err
	}
	s.Logged(a)
	out := Released{Deliveries: ids}
	if len(ids) == 0 {
		return out, nil
	}
	// The waiters check their turn again now; one not woken here (Temporal
	// unreachable) does so at its next recheck.
	waiters, err := s.store.WaitersForDeliveries(ctx, ids)
	if err != nil {
		s.log.Warn("finding deliveries waiting for a released key", "err", err)
		return out, nil
	}
	for _, w := range waiters {
		if err := s.workflows.SignalTurn(ctx, w.WorkflowID, flow.Turn{DeliveryID: w.DeliveryID.String()}); err == nil {
			out.Woken++
		}
	}
	return out, nil
}
