package httpapi

import (
	"io"

	"github.com/valyala/fasthttp"
)

// readBody reads the request body, up to limit bytes; past that it answers
// 413. Bodies arrive as streams (the server streams large bodies rather
// than buffering them), so the limit holds for chunked bodies too.
func readBody(ctx *fasthttp.RequestCtx, limit int) ([]byte, bool) {
	if n := ctx.Request.Header.ContentLength(); n > limit {
		ctx.SetConnectionClose()
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body is too large")
		return nil, false
	}
	if !ctx.Request.IsBodyStream() {
		body := ctx.PostBody()
		if len(body) > limit {
			writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body is too large")
			return nil, false
		}
		return body, true
	}
	body, err := io.ReadAll(io.LimitReader(ctx.RequestBodyStream(), int64(limit)+1))
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "could not read the request body")
		return nil, false
	}
	if len(body) > limit {
		ctx.SetConnectionClose()
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body is too large")
		return nil, false
	}
	return body, true
}
