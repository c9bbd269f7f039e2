package httpapi

import (
	"io"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// maxDrain bounds how much of a refused body is read and thrown away
// before the connection is closed, so that a client still sending it reads
// the answer rather than a reset connection; drainTime bounds how long.
const (
	maxDrain  = 16 << 20
	drainTime = time.Second
)

// refuseTooLarge answers 413; see refuseBody.
func refuseTooLarge(ctx *fasthttp.RequestCtx, msg string) {
	refuseBody(ctx, fasthttp.StatusRequestEntityTooLarge, msg)
}

// refuseBody answers code with a JSON error to a request whose body may
// still be arriving. Such a connection is not used again: the answer is
// sent first, with Connection: close, then (a bounded part of) what the
// client is still sending is read and thrown away, and the connection is
// closed. Closing at once, with unread data, would reset the connection,
// and the client could lose the answer; reading before answering would
// keep the client waiting for it.
func refuseBody(ctx *fasthttp.RequestCtx, code int, msg string) {
	writeError(ctx, code, msg)
	if !ctx.Request.IsBodyStream() {
		return
	}
	// fasthttp writes no Connection: close before handing a connection
	// over, so the answer is written here (the response set above is
	// what metrics and the access log see).
	answer := []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + fasthttp.StatusMessage(code) + "\r\n" +
		"Content-Type: application/json\r\n")
	if ra := ctx.Response.Header.Peek(fasthttp.HeaderRetryAfter); len(ra) > 0 {
		answer = append(answer, "Retry-After: "+string(ra)+"\r\n"...)
	}
	body := ctx.Response.Body()
	answer = append(answer, "Connection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"...)
	answer = append(answer, body...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(drainTime))
		if _, err := c.Write(answer); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, maxDrain))
	})
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
