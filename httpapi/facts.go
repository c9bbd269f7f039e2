package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

// The route shapes of the facts (roles, permissions, memberships), each
// registered with its /v1 twin.

// registerFact registers one kind of fact's routes at path, whose
// parameters are names: POST adds the fact (add), DELETE deletes it (del),
// GET asks whether it holds (has). change builds the change of either op
// from the parameters.
func (s *Server) registerFact(path string, names []string, add, del engine.Op, change func(op engine.Op, p *params) engine.Change, has func(t *engine.Tenant, p *params) bool) {
	s.both(fasthttp.MethodPost, path, s.writer(path, names, func(p *params) engine.Change { return change(add, p) }))
	s.both(fasthttp.MethodDelete, path, s.writer(path, names, func(p *params) engine.Change { return change(del, p) }))
	s.both(fasthttp.MethodGet, path, s.boolReader(names, has))
}

// registerList registers GET path, a list read of one parameter (param,
// after the key): {"<top>": [{"<field>": ...}]}, whole from list, or on
// /v1 a page of it from page.
func (s *Server) registerList(path, param, top, field string, list func(t *engine.Tenant, arg string) []string, page func(t *engine.Tenant, arg string, q engine.Page) ([]string, bool)) {
	s.both(fasthttp.MethodGet, path,
		s.listReader([]string{"key", param}, top, field,
			func(t *engine.Tenant, p *params) []string { return list(t, p.vals[1]) },
			func(t *engine.Tenant, p *params, q engine.Page) ([]string, bool) { return page(t, p.vals[1], q) }))
}
