package httpapi

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"auth/internal/jsonstr"
)

// Health, for orchestrators:
//
//	GET /healthz  200 {"status": "ok"} while the process serves (liveness)
//	GET /readyz   200 {"status": "ready"} once the state is loaded and the
//	              store (and bus, when configured) answer; else 503
//	              {"status": "not ready", "error": "..."}
//
// /ping stays as the original had it.

const readyTimeout = 2 * time.Second

func (s *Server) registerHealth() {
	s.handle(fasthttp.MethodGet, "/healthz", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
		ctx.SetContentType(contentJSON)
		ctx.SetBodyString(`{"status": "ok"}`)
	})
	s.handle(fasthttp.MethodGet, "/readyz", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
		if s.cfg.Ready != nil {
			rctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			err := s.cfg.Ready(rctx)
			cancel()
			if err != nil {
				ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
				ctx.SetContentType(contentJSON)
				setBody(ctx, func(b []byte) []byte {
					b = append(b, `{"status": "not ready", "error": `...)
					b = jsonstr.Append(b, err.Error())
					return append(b, '}')
				})
				return
			}
		}
		ctx.SetContentType(contentJSON)
		ctx.SetBodyString(`{"status": "ready"}`)
	})
}
