package api

import (
	"net/http"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/ratelimit"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// answers are the status and stable code of each kind of domain error.
var answers = map[service.Kind]struct {
	status int
	code   string
}{
	service.NotFound:        {http.StatusNotFound, CodeNotFound},
	service.Invalid:         {http.StatusUnprocessableEntity, CodeValidationFailed},
	service.WebhookEnabled:  {http.StatusConflict, CodeWebhookEnabled},
	service.WebhookDisabled: {http.StatusConflict, CodeWebhookDisabled},
	service.Conflict:        {http.StatusConflict, CodeConflict},
	service.LimitReached:    {http.StatusUnprocessableEntity, CodeWebhookLimit},
	service.Confirmation:    {http.StatusPreconditionRequired, CodeConfirmationRequired},
	service.RateLimited:     {http.StatusTooManyRequests, CodeRateLimited},
	service.Unavailable:     {http.StatusServiceUnavailable, CodeUnavailable},
	service.Timeout:         {http.StatusGatewayTimeout, CodeUnavailable},
	service.DeliveryFailed:  {http.StatusBadGateway, CodeDeliveryFailed},
}

// fromService is the API error of a domain error.
func fromService(e *service.Error) *Error {
	a, ok := answers[e.Kind]
	if !ok {
		a.status, a.code = http.StatusInternalServerError, CodeInternal
	}
	out := &Error{Status: a.status, Code: a.code, Message: e.Message, Fields: e.Fields}
	if e.RetryAfter > 0 {
		out.RetryAfter = ratelimit.RetryAfterSeconds(e.RetryAfter)
	}
	return out
}
