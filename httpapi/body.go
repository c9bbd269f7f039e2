package httpapi

import (
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// maxDrain bounds how much of a refused body is read and thrown away before
// the connection is closed, so that a client still sending it reads the 413
// rather than a reset connection.
const maxDrain = 16 << 20

// refuseTooLarge answers 413 and closes the connection after draining (a
// bounded part of) what the client is still sending.
func refuseTooLarge(ctx *fasthttp.RequestCtx, msg string) {
	writeError(ctx, fasthttp.StatusRequestEntityTooLarge, msg)
	ctx.SetConnectionClose()
	if ctx.Request.IsBodyStream() {
		ctx.Conn().SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(ctx.RequestBodyStream(), maxDrain))
	}
}

// readBody reads the request body, up to limit bytes; past that it answers
// 413. Bodies arrive as streams (the server streams large bodies rather
// than buffering them), so the limit holds for chunked bodies too.
func readBody(ctx *fasthttp.RequestCtx, limit int) ([]byte, bool) {
	if n := ctx.Request.Header.ContentLength(); n > limit {
		refuseTooLarge(ctx, "request body is too large")
		return nil, false
	}
	if !ctx.Request.IsBodyStream() {
		body := ctx.PostBody()
		if len(body) > limit {
			refuseTooLarge(ctx, "request body is too large")
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
		refuseTooLarge(ctx, "request body is too large")
		return nil, false
	}
	return body, true
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
