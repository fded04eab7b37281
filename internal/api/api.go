// Package api is the REST API: webhook management, API keys, event
// publishing and the delivery log. Handlers parse the request, call the
// service layer (package service, shared with the console) and answer;
// authentication, request bounds, JSON limits and the error format live
// here.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clientaddr"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/ratelimit"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
)

// Handler holds the dependencies of every route.
type Handler struct {
	cfg   config.Config
	log   *slog.Logger
	store *db.Store // API keys and readiness
	// workflows is asked whether Temporal is reachable (readiness).
	workflows *workflowclient.Client
	metrics   *metrics.Metrics // optional
	now       func() time.Time

	// Abuse limits (nil when switched off): failed authentications per
	// client address, requests per API key, publishes per API key (a
	// publish counts against this one only).
	authFailures *ratelimit.Limiters
	keyRequests  *ratelimit.Limiters
	publishes    *ratelimit.Limiters

	// svc is what the API and the console do: handlers parse, call it and
	// answer.
	svc *service.Service
}

// Deps are what the API needs. Metrics may be nil.
type Deps struct {
	Config    config.Config
	Log       *slog.Logger
	Store     *db.Store
	Workflows *workflowclient.Client
	Service   *service.Service
	Metrics   *metrics.Metrics
}

// New builds the Echo server with every route.
func New(d Deps) *echo.Echo {
	cfg := d.Config
	h := &Handler{
		cfg: cfg, log: d.Log, store: d.Store, workflows: d.Workflows, svc: d.Service, metrics: d.Metrics,
		now:          time.Now,
		authFailures: ratelimit.New(cfg.AuthFailuresPerMinute/60, int(max(1, cfg.AuthFailuresPerMinute)), 0),
		keyRequests:  ratelimit.New(cfg.KeyRequestsPerSecond, cfg.KeyRequestsBurst, 0),
		publishes:    ratelimit.New(cfg.PublishPerSecond, cfg.PublishBurst, 0),
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientaddr.Extractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = h.errorHandler
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(requestBounds)
	e.Use(bodyLimit(cfg.MaxBodyBytes))
	e.Use(h.accessLog)
	if cfg.Tracing() {
		e.Use(h.traceRequests)
	}
	h.routes(e)
	return e
}

// clientAddr is the rate-limit key of the client, and its address in the
// audit log (clientaddr.Key).
func clientAddr(c echo.Context) string { return clientaddr.Key(c.RealIP()) }

// rateLimited is a 429 telling the client when to come back.
func rateLimited(wait time.Duration, msg string) *Error {
	e := apiError(http.StatusTooManyRequests, CodeRateLimited, msg)
	e.RetryAfter = ratelimit.RetryAfterSeconds(wait)
	return e
}

// bodyLimit answers 413 for bodies over n bytes, declared or streamed.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "The request body is too large.")
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

// accessLog logs each request at debug level, and failures at warn.
func (h *Handler) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status, took := c.Response().Status, time.Since(start)
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		h.log.Log(c.Request().Context(), level, "http request", "method", c.Request().Method,
			"path", c.Request().URL.Path, "status", status, "duration", took,
			"requestId", c.Response().Header().Get(echo.HeaderXRequestID))
		// The route pattern, not the path: ids would make unbounded labels.
		route := c.Path()
		if route == "" || status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		h.metrics.ObserveRequest(c.Request().Method, route, status, took)
		return nil
	}
}

// health answers while the process is up.
func (h *Handler) health(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ready checks PostgreSQL and Temporal; 503 names what is down.
func (h *Handler) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	down := []string{}
	// The endpoint is unauthenticated: driver and gRPC errors can name
	// hosts, users and databases, so they go to the log only.
	if err := h.store.Ping(ctx); err != nil {
		h.log.Warn("readiness: postgres unreachable", "err", err)
		checks["postgres"] = "unreachable"
		down = append(down, "postgres")
	}
	if err := h.workflows.CheckHealth(ctx); err != nil {
		h.log.Warn("readiness: temporal unreachable", "err", err)
		checks["temporal"] = "unreachable"
		down = append(down, "temporal")
	}
	if len(down) > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterOutage))
		return c.JSON(http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "down": down, "checks": checks,
			"error": Error{Code: CodeUnavailable, Message: "Not ready: a dependency is down."},
		})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "checks": checks})
}
