package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// Error codes: stable and machine-readable; clients switch on these.
const (
	CodeInvalidJSON          = "invalid_json"
	CodeDuplicateKey         = "duplicate_key"
	CodeJSONLimit            = "json_limit_exceeded"
	CodeQueryTooLong         = "query_too_long"
	CodeHeadersTooLarge      = "headers_too_large"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeValidationFailed     = "validation_failed"
	CodeNotFound             = "not_found"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodePlanNotSupported     = "plan_not_supported"
	CodeWebhookEnabled       = "webhook_enabled"
	CodeWebhookDisabled      = "webhook_disabled"
	CodeConfirmationRequired = "confirmation_required"
	CodePayloadTooLarge      = "payload_too_large"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodeRateLimited          = "rate_limited"
	CodeWebhookLimit         = "webhook_limit_reached"
	CodeUnavailable          = "service_unavailable"
	CodeDeliveryFailed       = "delivery_failed"
	CodeInvalidRequest       = "invalid_request"
	CodeUnknownParameter     = "unknown_parameter"
	CodeInternal             = "internal_error"
)

// Error is every API error, rendered as {"error": {...}}.
type Error struct {
	Status int `json:"-"`
	// RetryAfter, in seconds, is sent as the Retry-After header when set;
	// every 503 gets retryAfterOutage when it has none.
	RetryAfter int               `json:"-"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
	// Errors are the fields again, in order, each with its JSON pointer
	// into the request body: set when the body is checked as one
	// document (an event, its data against its type's schema).
	Errors []ErrorDetail `json:"errors,omitempty"`
}

// ErrorDetail is one invalid input of a request body.
type ErrorDetail struct {
	Field   string `json:"field"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func apiError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func validationError(fields map[string]string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidationFailed,
		Message: "The request has invalid fields; see fields.", Fields: fields}
}

func notFound(what string) *Error {
	return apiError(http.StatusNotFound, CodeNotFound, what+" not found")
}

// errorHandler renders every error in the one shape. Unknown errors are a
// 500 with a generic message; the detail goes to the log with the request id.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var apiErr *Error
	var svcErr *service.Error
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &svcErr):
		apiErr = fromService(svcErr)
	case errors.Is(err, db.ErrNotFound):
		apiErr = notFound("resource")
	case errors.As(err, &httpErr):
		apiErr = fromEcho(httpErr)
	case dependencyDown(err):
		// An outage of PostgreSQL or Temporal is not a bug: tell the client
		// to come back instead of answering 500.
		apiErr = errUnavailable()
		h.log.Warn("dependency unavailable", "method", c.Request().Method, "path", c.Path(),
			"requestId", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	default:
		apiErr = apiError(http.StatusInternalServerError, CodeInternal, "Something went wrong on our side; it has been logged.")
	}
	if apiErr.Status == http.StatusServiceUnavailable && apiErr.RetryAfter == 0 {
		apiErr.RetryAfter = retryAfterOutage
	}
	if apiErr.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(apiErr.RetryAfter))
	}
	if apiErr.Status >= 500 && apiErr.Code != CodeUnavailable {
		h.log.Error("request failed", "method", c.Request().Method, "path", c.Path(),
			"requestId", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	}
	_ = c.JSON(apiErr.Status, map[string]*Error{"error": apiErr})
}

// retryAfterOutage is the Retry-After of a 503: short, as most outages
// (a failover, a restart) are.
const retryAfterOutage = 5

func errUnavailable() *Error {
	return apiError(http.StatusServiceUnavailable, CodeUnavailable,
		"A service this API depends on is unavailable; try again shortly.")
}

// dependencyDown reports whether err is an outage of PostgreSQL or Temporal
// rather than a bug.
func dependencyDown(err error) bool {
	var (
		unavailable   *serviceerror.Unavailable
		nsUnavailable *serviceerror.NamespaceUnavailable
		deadline      *serviceerror.DeadlineExceeded
	)
	return db.Unavailable(err) || errors.As(err, &unavailable) || errors.As(err, &nsUnavailable) || errors.As(err, &deadline)
}

func fromEcho(e *echo.HTTPError) *Error {
	switch e.Code {
	case http.StatusNotFound:
		return apiError(e.Code, CodeNotFound, "No such route.")
	case http.StatusMethodNotAllowed:
		return apiError(e.Code, CodeMethodNotAllowed, "This route does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return apiError(e.Code, CodePayloadTooLarge, "The request body is too large.")
	case http.StatusUnauthorized:
		return apiError(e.Code, CodeUnauthorized, "A valid API key is required.")
	}
	// Stable codes: clients switch on them, so never derive one from StatusText.
	code := CodeInternal
	if e.Code < 500 {
		code = CodeInvalidRequest
	}
	return apiError(e.Code, code, http.StatusText(e.Code))
}

// decode reads a management route's JSON body strictly: one object, no
// unknown fields, within managementBody.
func decode(c echo.Context, dst any) error {
	return decodeWithin(c, dst, managementBody)
}

// decodeWithin is decode with the limits of the route's own body.
func decodeWithin(c echo.Context, dst any, lim jsonLimits) error {
	raw, err := readJSONBody(c, lim)
	if err != nil {
		return err
	}
	return decodeRaw(raw, dst)
}

// decodeOptional is decode for a body that may be left out: an empty body
// leaves dst as it is.
func decodeOptional(c echo.Context, dst any) error {
	raw, err := readJSONBody(c, managementBody)
	if err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return err
	}
	return decodeRaw(raw, dst)
}

func decodeRaw(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var maxErr *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "The request body is too large.")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return validationError(map[string]string{typeErr.Field: "must be a JSON " + jsonKind(typeErr.Type.Kind().String())})
		case isUnknownField(err):
			return validationError(map[string]string{unknownFieldName(err): "is not a known field"})
		}
		return apiError(http.StatusBadRequest, CodeInvalidJSON, "The body is not valid JSON: "+err.Error())
	}
	// Only whitespace may follow the object. dec.More() is not enough: it
	// reports false for a stray '}' or ']', so `{...}}` was accepted.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, new(*http.MaxBytesError)):
		return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "The request body is too large.")
	}
	return apiError(http.StatusBadRequest, CodeInvalidJSON, "The body must hold a single JSON object.")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
func isUnknownField(err error) bool {
	return strings.HasPrefix(err.Error(), "json: unknown field ")
}

func unknownFieldName(err error) string {
	return strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
}
