package httpapi

import (
	"context"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
	"auth/persist"
)

// msgDeleted answers a write a replica made from a state that had not
// heard of its tenant's deletion yet: the deletion refused it.
const msgDeleted = "the tenant is deleted; nothing was changed"

const msgPruned = "the events after that seq are no longer kept (retention); start again from an export"

// status maps an error from the Service to an HTTP status and a message
// safe to show the client. This is the one place that decides it.
func status(err error) (int, string) {
	switch {
	case errors.Is(err, engine.ErrInvalid):
		return fasthttp.StatusBadRequest, err.Error()
	case errors.Is(err, engine.ErrUnauthorized):
		return fasthttp.StatusUnauthorized, msgRevoked
	case errors.Is(err, engine.ErrForbidden):
		return fasthttp.StatusForbidden, msgForbidden
	case errors.Is(err, engine.ErrTenantDeleted):
		return fasthttp.StatusGone, msgDeleted
	case errors.Is(err, engine.ErrRefused):
		return fasthttp.StatusUnprocessableEntity, refusal(err)
	case errors.Is(err, persist.ErrPruned):
		return fasthttp.StatusGone, msgPruned
	case errors.Is(err, persist.ErrAmbiguous):
		return fasthttp.StatusServiceUnavailable, "store did not confirm the write in time; it may still apply"
	case errors.Is(err, persist.ErrUnavailable), errors.Is(err, persist.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fasthttp.StatusServiceUnavailable, "store unavailable; nothing was changed"
	default:
		return fasthttp.StatusInternalServerError, "internal error"
	}
}

// Outcomes of a write that did not answer 200, in the "outcome" field of
// its error: a client must never be told "nothing changed" unless that is
// known.
const (
	// outcomeNotApplied: nothing changed anywhere (503, and every 4xx).
	outcomeNotApplied = "not_applied"
	// outcomeUnknown: the write may have been made, or was made and its
	// answer is unknown (504, and 500); "seq", when present, is the seq it
	// was made at.
	outcomeUnknown = "unknown"
)

// writeStatus maps an error of a write to its status, message and outcome.
// Only errors known to mean "nothing was written" answer 503; anything
// else that is not the client's fault is an unknown outcome.
func writeStatus(err error) (int, string, string) {
	switch {
	case errors.Is(err, engine.ErrInvalid):
		return fasthttp.StatusBadRequest, err.Error(), outcomeNotApplied
	case errors.Is(err, engine.ErrUnauthorized):
		return fasthttp.StatusUnauthorized, msgRevoked, outcomeNotApplied
	case errors.Is(err, engine.ErrForbidden):
		return fasthttp.StatusForbidden, msgForbidden, outcomeNotApplied
	case errors.Is(err, engine.ErrTenantDeleted):
		return fasthttp.StatusGone, msgDeleted, outcomeNotApplied
	case errors.Is(err, engine.ErrRefused):
		return fasthttp.StatusUnprocessableEntity, refusal(err), outcomeNotApplied
	case errors.Is(err, persist.ErrAmbiguous):
		return fasthttp.StatusGatewayTimeout, "the write may have been made, or was made and its answer is not known here; read with min_seq to find out", outcomeUnknown
	case errors.Is(err, persist.ErrUnavailable), errors.Is(err, persist.ErrClosed):
		return fasthttp.StatusServiceUnavailable, "store unavailable; nothing was changed", outcomeNotApplied
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fasthttp.StatusGatewayTimeout, "the write did not finish in time; it may have been made", outcomeUnknown
	default:
		return fasthttp.StatusInternalServerError, "internal error; the write may have been made", outcomeUnknown
	}
}

// writeWriteError answers a failed write with its outcome, and the seq it
// was made at when that is known.
func (s *Server) writeWriteError(ctx *fasthttp.RequestCtx, route string, err error, seq uint64) {
	code, msg, outcome := writeStatus(err)
	if code >= 500 {
		s.cfg.Logger.Warn("write failed", "route", route, "status", code, "outcome", outcome, "err", err)
	}
	if outcome == outcomeUnknown && seq > 0 {
		s.setSeq(ctx, seq)
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"error": `...)
		b = jsonstr.Append(b, msg)
		b = append(b, `, "outcome": "`...)
		b = append(b, outcome...)
		b = append(b, '"')
		if outcome == outcomeUnknown && seq > 0 {
			b = append(b, `, "seq": `...)
			b = strconv.AppendUint(b, seq, 10)
		}
		return append(b, '}')
	})
}

func (s *Server) writeServiceError(ctx *fasthttp.RequestCtx, route string, err error) {
	code, msg := status(err)
	if code >= 500 {
		s.cfg.Logger.Warn("write failed", "route", route, "status", code, "err", err)
	}
	writeError(ctx, code, msg)
}

// refusal is the message of a change the tenant's state refused (422):
// the engine's words, without the layers that wrapped them on the way.
func refusal(err error) string {
	if ce := (*engine.CycleError)(nil); errors.As(err, &ce) {
		return ce.Error()
	}
	return "the tenant's state refuses the change"
}
