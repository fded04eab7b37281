package api

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

func channelID(c echo.Context) (uuid.UUID, error) {
	return service.ParseID(c.Param("id"), "notification channel")
}

func (h *Handler) createChannel(c echo.Context) error {
	var in service.ChannelInput
	if err := decode(c, &in); err != nil {
		return err
	}
	ch, err := h.svc.CreateChannel(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, resource.FromChannel(ch))
}

func (h *Handler) listChannels(c echo.Context) error {
	chs, err := h.svc.Channels(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	out := resource.Page[resource.Channel]{Data: make([]resource.Channel, 0, len(chs))}
	for _, ch := range chs {
		out.Data = append(out.Data, resource.FromChannel(ch))
	}
	return c.JSON(http.StatusOK, out)
}

// getChannel shows a channel with its latest notices.
func (h *Handler) getChannel(c echo.Context) error {
	id, err := channelID(c)
	if err != nil {
		return err
	}
	ch, log, err := h.svc.Channel(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	notices := make([]resource.ChannelNotice, 0, len(log))
	for _, n := range log {
		notices = append(notices, resource.FromChannelNotice(n))
	}
	return c.JSON(http.StatusOK, struct {
		resource.Channel
		Notices []resource.ChannelNotice `json:"notices"`
	}{resource.FromChannel(ch), notices})
}

func (h *Handler) updateChannel(c echo.Context) error {
	id, err := channelID(c)
	if err != nil {
		return err
	}
	var p service.ChannelPatch
	if err := decode(c, &p); err != nil {
		return err
	}
	ch, err := h.svc.UpdateChannel(c.Request().Context(), caller(c), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FromChannel(ch))
}

func (h *Handler) deleteChannel(c echo.Context) error {
	id, err := channelID(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteChannel(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// testChannel sends a test notice now: 200 when the channel took it,
// else 502 with the channel (its lastResult says why) beside the error.
func (h *Handler) testChannel(c echo.Context) error {
	id, err := channelID(c)
	if err != nil {
		return err
	}
	r, err := h.svc.TestChannel(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	view := resource.FromChannel(r.Channel)
	if r.Err == nil {
		return c.JSON(http.StatusOK, view)
	}
	return c.JSON(http.StatusBadGateway, map[string]any{"error": fromService(r.Err), "channel": view})
}
