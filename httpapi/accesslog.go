package httpapi

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Access logs are off by default (Config.AccessLog). When on, each request
// is logged at info level with its method, its path with the key segment
// replaced by "***" (the original's routes carry the key in the path), its
// status and duration. Query strings and headers are never logged.

// redactPath hides the key segment of an original route's path:
// /api/role/KEY/admin becomes /api/role/***/admin.
func redactPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return path
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return path
	}
	tail := ""
	if j := strings.IndexByte(rest[i+1:], '/'); j >= 0 {
		tail = rest[i+1+j:]
	}
	return "/api/" + rest[:i] + "/***" + tail
}

func (s *Server) accessLog(ctx *fasthttp.RequestCtx, start time.Time) {
	s.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", methodLabel(ctx)),
		slog.String("path", redactPath(string(ctx.Request.URI().PathOriginal()))),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", ctx.RemoteIP().String()),
	)
}
