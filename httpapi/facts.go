package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

// The route shape of the facts (roles, permissions, memberships,
// inclusions), registered with its /v1 twins.

// registerFact registers one kind of fact's routes at path, whose
// parameters are names: POST adds the fact (add), DELETE deletes it (del),
// GET asks whether it holds (has). change builds the change of either op
// from the parameters.
func (s *Server) registerFact(path string, names []string, add, del engine.Op, change func(op engine.Op, p *params) engine.Change, has func(t *engine.Tenant, p *params) bool) {
	s.both(fasthttp.MethodPost, path, s.writer(path, names, func(p *params) engine.Change { return change(add, p) }))
	s.both(fasthttp.MethodDelete, path, s.writer(path, names, func(p *params) engine.Change { return change(del, p) }))
	s.both(fasthttp.MethodGet, path, s.boolReader(names, has))
}
