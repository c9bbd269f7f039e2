package httpapi

import (
	"bufio"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// Bulk export and import, as JSON lines, one fact a line:
//
//	{"role": "cookers"}                           a role
//	{"role": "cookers", "permission": "cook"}     a grant
//	{"role": "cookers", "user": "sara"}           a membership
//	{"role": "chefs", "includes": "cookers"}      an inclusion: chefs' members have cookers' permissions
//	{"role": "admin", "user": "jack", "expires_at": "2026-12-04T18:00:00Z"}
//	                                              a membership with a window ("starts_at" and/or "expires_at")
//
// GET /v1/export streams a tenant's whole state, from one consistent
// snapshot whose seq is in the X-Auth-Seq header: roles first, then each
// role's grants, members and inclusions, sorted.
//
// POST /v1/import takes the same lines (up to Config.MaxImportBodySize) and
// applies them as one event: all of them or, on any error, none. Roles are
// created first, so lines may come in any order. It answers
// {"result": true, "seq": N, "roles": R, "permissions": P, "memberships": M}
// with the counts of lines read, and "inclusions": I when there are any.
// An import whose inclusions would make a cycle of roles is refused whole
// (422). Its bounds are in import.go.

const importPath = "/v1/import"

func (s *Server) registerBulk() {
	s.handle(fasthttp.MethodGet, "/v1/export", s.export)
	s.handle(fasthttp.MethodPost, importPath, s.importLines)
}

func (s *Server) export(ctx *fasthttp.RequestCtx) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	t, ok := s.tenantScoped(ctx, v1, key, engine.ScopeRead)
	if !ok {
		return
	}
	if t == nil {
		s.setSeq(ctx, 0)
		ctx.SetContentType("application/x-ndjson")
		return
	}
	snap := t.Snapshot()
	s.setSeq(ctx, snap.Seq)
	ctx.SetContentType("application/x-ndjson")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		var b []byte
		roles := make([]int, len(snap.Roles))
		for i := range roles {
			roles[i] = i
		}
		slices.SortFunc(roles, func(a, b int) int { return strings.Compare(snap.Roles[a].Name, snap.Roles[b].Name) })
		var windows map[[2]uint32]engine.Window // by role and user, for the memberships with one
		for _, w := range snap.Windows {
			if windows == nil {
				windows = make(map[[2]uint32]engine.Window, len(snap.Windows))
			}
			windows[[2]uint32{w.Role, w.User}] = w.Window
		}
		roleNames := make([]string, len(snap.Roles))
		for i := range snap.Roles {
			roleNames[i] = snap.Roles[i].Name
		}
		for _, i := range roles {
			b = append(b[:0], `{"role": `...)
			b = jsonstr.Append(b, snap.Roles[i].Name)
			b = append(b, "}\n"...)
			if _, err := w.Write(b); err != nil {
				return
			}
		}
		for _, i := range roles {
			r := &snap.Roles[i]
			for _, line := range [...]struct {
				field string
				names []string
				idx   []uint32
			}{{"permission", snap.Permissions, r.Permissions}, {"user", snap.Users, r.Members}, {"includes", roleNames, r.Includes}} {
				idx := slices.Clone(line.idx)
				slices.SortFunc(idx, func(x, y uint32) int { return strings.Compare(line.names[x], line.names[y]) })
				for _, x := range idx {
					b = append(b[:0], `{"role": `...)
					b = jsonstr.Append(b, r.Name)
					b = append(b, `, "`...)
					b = append(b, line.field...)
					b = append(b, `": `...)
					b = jsonstr.Append(b, line.names[x])
					if line.field == "user" && windows != nil {
						b = appendWindow(b, windows[[2]uint32{uint32(i), x}])
					}
					b = append(b, "}\n"...)
					if _, err := w.Write(b); err != nil {
						return
					}
				}
			}
		}
	})
}
