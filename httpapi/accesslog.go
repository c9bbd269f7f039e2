package httpapi

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Access logs are off by default (Config.AccessLog). When on, each request
// is logged at info level with its method, its route, its status and
// duration, and the client's address. Query strings and headers are never
// logged.
//
// The route is never the request's path, which may hold a key (the
// original's routes carry it in the path, and a client can put one
// anywhere): it is the template of the route that answered
// (/api/role/{key}/{role}), so that no byte of the path reaches the log.
// A path no route matched is logged by its shape: each segment that is a
// literal word of some route (api, role, v1, ...) is kept, any other is
// "*", and past maxLoggedSegments the rest is "/...". However the path is
// malformed (empty segments, doubled slashes, percent-encoded slashes or
// letters, dot segments), what it holds beyond those words never shows.

// maxLoggedSegments bounds the segments of an unmatched path's shape.
const maxLoggedSegments = 8

// routeWords returns the literal segments of the routes, the only words an
// unmatched path's shape may show.
func routeWords(routes []Route) map[string]bool {
	words := map[string]bool{}
	for _, r := range routes {
		for seg := range strings.SplitSeq(r.Path, "/") {
			if seg != "" && !strings.HasPrefix(seg, "{") {
				words[seg] = true
			}
		}
	}
	return words
}

// pathShape is how an unmatched raw path is logged.
func pathShape(path string, words map[string]bool) string {
	if path == "" {
		return ""
	}
	var b strings.Builder
	rest := path
	if rest[0] == '/' {
		rest = rest[1:]
	}
	for n := 0; ; n++ {
		if n == maxLoggedSegments {
			b.WriteString("/...")
			break
		}
		seg, tail, more := strings.Cut(rest, "/")
		b.WriteByte('/')
		if words[seg] {
			b.WriteString(seg)
		} else if seg != "" {
			b.WriteByte('*')
		}
		if !more {
			break
		}
		rest = tail
	}
	return b.String()
}

// logRoute is what the access log shows of a request's path.
func (s *Server) logRoute(ctx *fasthttp.RequestCtx) string {
	if route, _ := ctx.UserValue(router.MatchedRoutePathParam).(string); route != "" {
		return route
	}
	return pathShape(string(ctx.Request.URI().PathOriginal()), s.words)
}

func (s *Server) accessLog(ctx *fasthttp.RequestCtx, route string) {
	s.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", methodLabel(ctx)),
		slog.String("path", route),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Duration("duration", time.Since(ctx.Time())),
		slog.String("remote", ctx.RemoteIP().String()),
	)
}
