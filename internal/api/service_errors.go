package api

import (
	"github.com/esign-webhooks/esign-webhooks/internal/edge/ratelimit"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// codes are the stable code of each kind of domain error; its status is
// the kind's (service.Kind.Status).
var codes = map[service.Kind]string{
	service.NotFound:         CodeNotFound,
	service.Invalid:          CodeValidationFailed,
	service.WebhookEnabled:   CodeWebhookEnabled,
	service.WebhookDisabled:  CodeWebhookDisabled,
	service.Conflict:         CodeConflict,
	service.LimitReached:     CodeWebhookLimit,
	service.Confirmation:     CodeConfirmationRequired,
	service.RateLimited:      CodeRateLimited,
	service.Unavailable:      CodeUnavailable,
	service.Timeout:          CodeUnavailable,
	service.DeliveryFailed:   CodeDeliveryFailed,
	service.Forbidden:        CodeForbidden,
	service.PlanNotSupported: CodePlanNotSupported,
}

// fromService is the API error of a domain error.
func fromService(e *service.Error) *Error {
	code, ok := codes[e.Kind]
	if !ok {
		code = CodeInternal
	}
	out := &Error{Status: e.Kind.Status(), Code: code, Message: e.Message, Fields: e.Fields}
	for _, p := range e.Problems {
		out.Errors = append(out.Errors, ErrorDetail{Field: p.Field, Pointer: p.Pointer, Message: p.Message})
	}
	if e.RetryAfter > 0 {
		out.RetryAfter = ratelimit.RetryAfterSeconds(e.RetryAfter)
	}
	return out
}
