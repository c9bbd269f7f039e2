package httpapi

import (
	"context"
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// register adds every route. The original's routes live under /api and
// keep its answers exactly.
func (s *Server) register() {
	s.handle(fasthttp.MethodGet, "/ping", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(contentJSON)
		ctx.SetBody(answerPong)
	})
	s.registerRoles()
	s.registerPermissions()
	s.registerMemberships()
	s.registerChecks()
	s.registerStatus()
}

// writer returns a handler that decodes the route's parameters (the key
// first), builds a change from them and writes it.
func (s *Server) writer(route string, names []string, change func(p *params) engine.Change) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := getParams()
		defer putParams(p)
		if !p.parse(ctx, names...) {
			return
		}
		wctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
		defer cancel()
		result, seq, err := s.svc.Write(wctx, p.key(), change(p))
		if err != nil {
			s.writeServiceError(ctx, route, err)
			return
		}
		ctx.Response.Header.Set("X-Auth-Seq", strconv.FormatUint(seq, 10))
		writeBool(ctx, result)
	}
}

// boolReader returns a handler answering {"result": <bool>} from the
// tenant's state.
func (s *Server) boolReader(names []string, read func(t *engine.Tenant, p *params) bool) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := getParams()
		defer putParams(p)
		if !p.parse(ctx, names...) {
			return
		}
		writeBool(ctx, read(s.svc.Tenant(engine.KeyID(p.key())), p))
	}
}

// listReader returns a handler answering {"<top>": [{"<field>": ...}]}.
func (s *Server) listReader(names []string, top, field string, read func(t *engine.Tenant, p *params) []string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := getParams()
		defer putParams(p)
		if !p.parse(ctx, names...) {
			return
		}
		writeList(ctx, top, field, read(s.svc.Tenant(engine.KeyID(p.key())), p))
	}
}
