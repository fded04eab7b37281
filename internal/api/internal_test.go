package api

import (
	"net/http"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/labstack/echo/v4"
)

// TestEveryKindAnswered: each kind of domain error has its status and
// stable code (an unlisted one would be a 500).
func TestEveryKindAnswered(t *testing.T) {
	for k := service.NotFound; k <= service.DeliveryFailed; k++ {
		if e := fromService(&service.Error{Kind: k}); e.Status == http.StatusInternalServerError || e.Code == CodeInternal {
			t.Errorf("kind %d answers %d %s", k, e.Status, e.Code)
		}
	}
}

func TestFromEchoStableCodes(t *testing.T) {
	for status, code := range map[int]string{
		http.StatusBadRequest:           CodeInvalidRequest,
		http.StatusTeapot:               CodeInvalidRequest,
		http.StatusUnsupportedMediaType: CodeInvalidRequest,
		http.StatusBadGateway:           CodeInternal,
		http.StatusNotFound:             CodeNotFound,
	} {
		e := fromEcho(echo.NewHTTPError(status))
		if e.Status != status || e.Code != code {
			t.Errorf("fromEcho(%d) = %d %q, want %d %q", status, e.Status, e.Code, status, code)
		}
	}
}
