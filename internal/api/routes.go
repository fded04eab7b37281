package api

import (
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// routes is the one table of every route. The OpenAPI document
// (openapi.json) must list each; a test holds them together. Middleware is
// attached per route, not per group: Echo groups with middleware add
// catch-all routes that would turn an unknown path into a 401 or 403.
func (h *Handler) routes(e *echo.Echo) {
	e.GET("/healthz", h.health)
	e.GET("/readyz", h.ready)
	e.GET("/v1/openapi.json", h.openAPI)
	e.GET("/v1/event-types", h.listEventTypes)
	e.GET("/v1/event-types/:type", h.getEventType)

	// Who may do what is the service's policy (service.Authorize): each
	// route names the access it needs.
	admins := []echo.MiddlewareFunc{h.authenticate, allow(service.ManageAccount)}
	proReaders := []echo.MiddlewareFunc{h.authenticate, allow(service.ReadWebhooks)}
	proAdmins := []echo.MiddlewareFunc{h.authenticate, allow(service.ManageWebhooks)}
	publishers := []echo.MiddlewareFunc{h.authenticatePublish, allow(service.PublishEvents)}
	readers := []echo.MiddlewareFunc{h.authenticate, allow(service.ReadEvents)}
	eventLogReaders := []echo.MiddlewareFunc{h.authenticate, allow(service.ReadEventLog)}

	e.POST("/v1/api-keys", h.createAPIKey, admins...)
	e.GET("/v1/api-keys", h.listAPIKeys, admins...)
	e.DELETE("/v1/api-keys/:id", h.revokeAPIKey, admins...)
	// Every change to the account, who made it and from where: any plan,
	// as keys and sign-ins are.
	e.GET("/v1/audit-log", h.listAuditLog, admins...)
	// One-time sign-in links to the admin console (/console): any plan, so
	// a Trial or Basic account's console can say what its plan lacks.
	e.POST("/v1/console/links", h.createConsoleLink, admins...)

	e.POST("/v1/webhooks", h.createWebhook, proAdmins...)
	// Static, so it wins over /v1/webhooks/:id; read-only, so members too.
	e.POST("/v1/webhooks/filter-test", h.testFilter, proReaders...)
	e.GET("/v1/webhooks", h.listWebhooks, proReaders...)
	e.GET("/v1/webhooks/:id", h.getWebhook, proReaders...)
	e.PATCH("/v1/webhooks/:id", h.updateWebhook, proAdmins...)
	e.DELETE("/v1/webhooks/:id", h.deleteWebhook, proAdmins...)
	e.POST("/v1/webhooks/:id/enable", h.enableWebhook, proAdmins...)
	e.POST("/v1/webhooks/:id/disable", h.disableWebhook, proAdmins...)
	e.POST("/v1/webhooks/:id/secret/reset", h.resetSecret, proAdmins...)
	e.GET("/v1/webhooks/:id/secret", h.getSecret, proAdmins...)
	e.POST("/v1/webhooks/:id/test", h.testWebhook, proAdmins...)
	e.POST("/v1/webhooks/:id/release", h.releaseKey, proAdmins...)
	e.GET("/v1/webhooks/:id/stats", h.webhookStats, proReaders...)
	e.GET("/v1/stats", h.accountStats, proReaders...)
	// Where health notices go besides webhooks: e-mail and team chats.
	e.POST("/v1/notification-channels", h.createChannel, proAdmins...)
	e.GET("/v1/notification-channels", h.listChannels, proAdmins...)
	e.GET("/v1/notification-channels/:id", h.getChannel, proAdmins...)
	e.PATCH("/v1/notification-channels/:id", h.updateChannel, proAdmins...)
	e.DELETE("/v1/notification-channels/:id", h.deleteChannel, proAdmins...)
	e.POST("/v1/notification-channels/:id/test", h.testChannel, proAdmins...)
	e.GET("/v1/deliveries", h.listDeliveries, proReaders...)
	e.GET("/v1/deliveries/:id", h.getDelivery, proReaders...)
	e.POST("/v1/deliveries/:id/resend", h.resendDelivery, proAdmins...)
	e.POST("/v1/deliveries/resend", h.bulkResend, proAdmins...)

	// Upstream services publish for every account; on other plans the event
	// is recorded and matches no webhook.
	e.POST("/v1/events", h.publishEvent, publishers...)
	e.GET("/v1/events", h.listEvents, eventLogReaders...)
	e.GET("/v1/events/:id", h.getEvent, readers...)
}
