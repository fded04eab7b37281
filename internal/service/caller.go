package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// Caller is who asks: an account, in a role, on a plan. The API builds it
// from an API key, the console from its session (Service.Caller). Every
// method checks it against the access it needs, so who may do what is
// decided here, once, for both.
type Caller struct {
	AccountID uuid.UUID
	Role      string
	Plan      string
	Actor     Actor // who, for the audit log (audit.go)
}

// Access is what an operation needs of its caller.
type Access int

// Kinds of access.
const (
	ReadWebhooks   Access = iota + 1 // webhooks and their delivery log: admins and members
	ManageWebhooks                   // changing them, secrets, tests, resends: admins
	PublishEvents                    // POST /v1/events: admins and publishers
	ReadEvents                       // an event as published: admins, members and readers
	ManageAccount                    // API keys and console sign-in links: admins
	ReadEventLog                     // an event's deliveries and dispatch state: admins and members
)

// policy is who has an access: these roles, and the Professional plan
// where webhooks are concerned (upstream services publish for every
// account; on other plans the event matches no webhook).
type policy struct {
	roles []string
	pro   bool
}

var policies = map[Access]policy{
	ReadWebhooks:   {roles: []string{db.RoleAdmin, db.RoleMember}, pro: true},
	ManageWebhooks: {roles: []string{db.RoleAdmin}, pro: true},
	PublishEvents:  {roles: []string{db.RoleAdmin, db.RolePublisher}},
	// A reader (the key of a thin webhook's receiver) fetches an event by
	// id and nothing else: not its deliveries (they name the account's
	// other webhooks), not the webhooks, the log or the keys.
	ReadEvents:    {roles: []string{db.RoleAdmin, db.RoleMember, db.RoleReader}},
	ReadEventLog:  {roles: []string{db.RoleAdmin, db.RoleMember}},
	ManageAccount: {roles: []string{db.RoleAdmin}},
}

// Authorize reports whether c has access a: a Forbidden error naming the
// roles that do, or PlanNotSupported. The API calls it before reading a
// request's body, so a caller without access learns that first.
func Authorize(c Caller, a Access) error {
	p := policies[a]
	if !slices.Contains(p.roles, c.Role) {
		return fail(Forbidden, "The caller's role ("+c.Role+") may not do this; it needs: "+strings.Join(p.roles, " or ")+".")
	}
	if p.pro && c.Plan != db.PlanProfessional {
		return fail(PlanNotSupported, "Webhooks are part of the Professional plan; this account is on the "+c.Plan+" plan.")
	}
	return nil
}

// ErrAccountGone: the account of a console session was deleted.
var ErrAccountGone = errors.New("the account no longer exists")

// Caller is the caller of a console session: its account as it is now (the
// plan may have changed since the sign-in) and role.
func (s *Service) Caller(ctx context.Context, accountID uuid.UUID, role string) (Caller, error) {
	acct, err := s.store.Account(ctx, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return Caller{}, ErrAccountGone
	}
	if err != nil {
		return Caller{}, err
	}
	return Caller{AccountID: acct.ID, Role: role, Plan: acct.Plan}, nil
}
