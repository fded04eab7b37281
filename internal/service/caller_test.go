package service_test

import (
	"errors"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// TestAuthorize: the one table of who may do what, for the API and the
// console alike.
func TestAuthorize(t *testing.T) {
	pro, trial := db.PlanProfessional, "trial"
	for _, tc := range []struct {
		role, plan string
		access     service.Access
		want       service.Kind // 0: allowed
	}{
		{db.RoleAdmin, pro, service.ManageWebhooks, 0},
		{db.RoleMember, pro, service.ReadWebhooks, 0},
		{db.RoleMember, pro, service.ManageWebhooks, service.Forbidden},
		{db.RolePublisher, pro, service.ReadWebhooks, service.Forbidden},
		{db.RolePublisher, trial, service.PublishEvents, 0},
		{db.RoleMember, pro, service.PublishEvents, service.Forbidden},
		{db.RoleAdmin, trial, service.ManageWebhooks, service.PlanNotSupported},
		{db.RoleMember, trial, service.ReadWebhooks, service.PlanNotSupported},
		{db.RoleMember, trial, service.ReadEvents, 0},
		{db.RoleAdmin, trial, service.ManageAccount, 0},
		{db.RoleMember, pro, service.ManageAccount, service.Forbidden},
		{"", pro, service.ReadWebhooks, service.Forbidden},
		// A reader reads an event by id, nothing else.
		{db.RoleReader, trial, service.ReadEvents, 0},
		{db.RoleReader, pro, service.ReadEventLog, service.Forbidden},
		{db.RoleReader, pro, service.ReadWebhooks, service.Forbidden},
		{db.RoleReader, pro, service.PublishEvents, service.Forbidden},
		{db.RoleReader, pro, service.ManageAccount, service.Forbidden},
		{db.RoleMember, trial, service.ReadEventLog, 0},
		{db.RolePublisher, pro, service.ReadEvents, service.Forbidden},
	} {
		err := service.Authorize(service.Caller{Role: tc.role, Plan: tc.plan}, tc.access)
		var e *service.Error
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("%s on %s, access %d: refused: %v", tc.role, tc.plan, tc.access, err)
		case tc.want != 0 && (!errors.As(err, &e) || e.Kind != tc.want):
			t.Errorf("%s on %s, access %d: got %v, want kind %d", tc.role, tc.plan, tc.access, err, tc.want)
		}
	}
}
