package httpapi

import (
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// hasPermissionParams are the check route's parameters; a package variable
// so the hot path builds no slice.
var hasPermissionParams = []string{"key", "user", "name"}

func (s *Server) registerChecks() {
	s.handle(fasthttp.MethodGet, "/api/has_permission/{key}/{user}/{name}", s.hasPermission)
	s.handle(fasthttp.MethodGet, v1Path("/api/has_permission/{key}/{user}/{name}"),
		s.boolReader(hasPermissionParams, func(t *engine.Tenant, p *params) bool {
			return t.UserHasPermission(p.vals[1], p.vals[2])
		})(v1))
	s.both(fasthttp.MethodGet, "/api/user_permissions/{key}/{user}",
		s.listReader([]string{"key", "user"}, "results", "name",
			func(t *engine.Tenant, p *params) []string { return t.UserPermissions(p.vals[1]) }))
	s.both(fasthttp.MethodGet, "/api/which_users_can/{key}/{name}",
		s.listReader([]string{"key", "name"}, "result", "user",
			func(t *engine.Tenant, p *params) []string { return t.WhichUsersCan(p.vals[1]) }))
}

// hasPermission is the check route's handler as the router calls it.
func (s *Server) hasPermission(ctx *fasthttp.RequestCtx) {
	p := getParams()
	if p.parse(ctx, hasPermissionParams...) {
		s.check(ctx, p)
	}
	putParams(p)
}

// check answers the check: hash the key, two map lookups and a few bit
// tests, a constant answer.
func (s *Server) check(ctx *fasthttp.RequestCtx, p *params) {
	writeBool(ctx, s.svc.TenantByKey(p.key()).UserHasPermission(p.vals[1], p.vals[2]))
}

const checkPrefix = "/api/has_permission/"

// serve is the server's handler. The check route, which services call on
// every request, is matched here before the router: the router allocates
// for its path parameters, and the check path must not allocate. Anything
// that is not exactly a GET of /api/has_permission/{key}/{user}/{name}
// with three non-empty segments goes to the router, which answers it the
// same way it would have.
func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Request.URI().PathOriginal()
	if n := ctx.Request.Header.ContentLength(); n > s.cfg.MaxRequestBodySize && (n > s.cfg.MaxImportBodySize || string(path) != importPath) {
		refuseTooLarge(ctx, "request body is too large")
		if s.metrics != nil {
			s.metrics.observe(ctx)
		}
		return
	}
	if len(path) > len(checkPrefix) && ctx.IsGet() && string(path[:len(checkPrefix)]) == checkPrefix {
		rest := unsafe.String(&path[len(checkPrefix)], len(path)-len(checkPrefix))
		if raws, ok := split3(rest); ok {
			p := getParams()
			if p.parseRaw(ctx, hasPermissionParams, raws[:]) {
				s.check(ctx, p)
			}
			putParams(p)
			if s.metrics != nil {
				s.metrics.observeCheck(ctx)
			}
			if s.cfg.AccessLog {
				s.accessLog(ctx, checkRoute)
			}
			return
		}
	}
	s.router.Handler(ctx)
	if s.metrics != nil {
		s.metrics.observe(ctx)
	}
	if s.cfg.AccessLog {
		s.accessLog(ctx, s.logRoute(ctx))
	}
}

// split3 splits "a/b/c" into three non-empty segments.
func split3(s string) (out [3]string, ok bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return out, false
	}
	j := strings.IndexByte(s[i+1:], '/')
	if j <= 0 {
		return out, false
	}
	j += i + 1
	if j == len(s)-1 || strings.IndexByte(s[j+1:], '/') >= 0 {
		return out, false
	}
	return [3]string{s[:i], s[i+1 : j], s[j+1:]}, true
}
