package httpapi

import (
	"context"
	"errors"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/persist"
)

// status maps an error from the Service to an HTTP status and a message
// safe to show the client. This is the one place that decides it.
func status(err error) (int, string) {
	switch {
	case errors.Is(err, engine.ErrInvalid):
		return fasthttp.StatusBadRequest, err.Error()
	case errors.Is(err, persist.ErrAmbiguous):
		return fasthttp.StatusServiceUnavailable, "store did not confirm the write in time; it may still apply"
	case errors.Is(err, persist.ErrUnavailable), errors.Is(err, persist.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fasthttp.StatusServiceUnavailable, "store unavailable; nothing was changed"
	default:
		return fasthttp.StatusInternalServerError, "internal error"
	}
}

func (s *Server) writeServiceError(ctx *fasthttp.RequestCtx, route string, err error) {
	code, msg := status(err)
	if code >= 500 {
		s.cfg.Logger.Warn("write failed", "route", route, "status", code, "err", err)
	}
	writeError(ctx, code, msg)
}
