package httpapi

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// Pages of the /v1 lists, and the reads a console needs beside them.
//
// Every /v1 list route takes three query arguments:
//
//	limit=N     at most N names (1 to maxListLimit)
//	after=NAME  the names after NAME, a cursor: the "next" of the page before
//	prefix=P    only the names that begin with P
//
// Without any of them the answer is exactly the whole list, as before.
// With limit the answer gains "next": the cursor of the next page, or null
// when this page ends the list:
//
//	GET /v1/members/admins?limit=2
//	→ {"result": [{"user": "ann"}, {"user": "bob"}], "next": "bob"}
//	GET /v1/members/admins?limit=2&after=bob
//	→ {"result": [{"user": "cy"}], "next": null}
//
// A page is selected under the tenant's read lock without sorting the
// whole list (engine.Page), so the first page of a role of 300k members
// costs a scan of them, not a sort.
//
// /v1/roles with counts=true gives each role the counts of its members and
// permissions; GET /v1/role_counts/{role} gives one role's.

// maxListLimit bounds the limit of a page.
const maxListLimit = 10000

// pageArgs reads limit, after and prefix; paged reports that any was
// given. On a bad argument it answers 400 and returns ok false.
func pageArgs(ctx *fasthttp.RequestCtx) (q engine.Page, paged, ok bool) {
	args := ctx.QueryArgs()
	if args.Len() == 0 {
		return q, false, true
	}
	if raw := args.Peek("limit"); raw != nil {
		paged = true
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 || n > maxListLimit {
			writeError(ctx, fasthttp.StatusBadRequest, "limit must be an integer between 1 and "+strconv.Itoa(maxListLimit))
			return q, false, false
		}
		q.Limit = n
	}
	for _, a := range [...]struct {
		name string
		dst  *string
	}{{"after", &q.After}, {"prefix", &q.Prefix}} {
		raw := args.Peek(a.name)
		if raw == nil {
			continue
		}
		paged = true
		if len(raw) == 0 {
			continue // the same as none: the whole list
		}
		v := string(raw)
		if err := engine.ValidName(v); err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, a.name+": "+err.Error())
			return q, false, false
		}
		*a.dst = v
	}
	return q, paged, true
}

// appendNext appends `, "next": <cursor or null>` to a page with a limit.
func appendNext(b []byte, names []string, q engine.Page, more bool) []byte {
	if q.Limit == 0 {
		return b
	}
	b = append(b, `, "next": `...)
	if !more || len(names) == 0 {
		return append(b, "null"...)
	}
	return jsonstr.Append(b, names[len(names)-1])
}

// writePage answers {"<top>": [{"<field>": name}, ...]}, with "next" when
// the page has a limit.
func writePage(ctx *fasthttp.RequestCtx, top, field string, names []string, q engine.Page, more bool) {
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"`...)
		b = append(b, top...)
		b = append(b, `": [`...)
		for i, n := range names {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `{"`...)
			b = append(b, field...)
			b = append(b, `": `...)
			b = jsonstr.Append(b, n)
			b = append(b, '}')
		}
		b = append(b, ']')
		b = appendNext(b, names, q, more)
		return append(b, '}')
	})
}

// boolArg reads a boolean query argument: true or 1, false or 0.
func boolArg(ctx *fasthttp.RequestCtx, name string) (v, ok bool) {
	switch raw := string(ctx.QueryArgs().Peek(name)); raw {
	case "", "false", "0":
		return false, true
	case "true", "1":
		return true, true
	}
	writeError(ctx, fasthttp.StatusBadRequest, name+" must be true or false")
	return false, false
}

// rolesReader is the roles list; on /v1, counts=true adds each role's
// counts: {"result": [{"role": "r", "members": 3, "permissions": 2}, ...]}.
func (s *Server) rolesReader(list func(api) fasthttp.RequestHandler) func(api) fasthttp.RequestHandler {
	return func(a api) fasthttp.RequestHandler {
		plain := list(a)
		if a != v1 {
			return plain
		}
		counted := s.reader([]string{"key"}, func(ctx *fasthttp.RequestCtx, t *engine.Tenant, _ *params) {
			q, _, ok := pageArgs(ctx)
			if !ok {
				return
			}
			roles, more := t.RolesPageCounts(q)
			ctx.SetContentType(contentJSON)
			setBody(ctx, func(b []byte) []byte {
				b = append(b, `{"result": [`...)
				names := make([]string, len(roles))
				for i, r := range roles {
					if i > 0 {
						b = append(b, ", "...)
					}
					names[i] = r.Name
					b = append(b, `{"role": `...)
					b = jsonstr.Append(b, r.Name)
					b = append(b, `, "members": `...)
					b = strconv.AppendInt(b, int64(r.Members), 10)
					b = append(b, `, "permissions": `...)
					b = strconv.AppendInt(b, int64(r.Permissions), 10)
					b = append(b, '}')
				}
				b = append(b, ']')
				b = appendNext(b, names, q, more)
				return append(b, '}')
			})
		})(v1)
		return func(ctx *fasthttp.RequestCtx) {
			counts, ok := boolArg(ctx, "counts")
			switch {
			case !ok:
			case counts:
				counted(ctx)
			default:
				plain(ctx)
			}
		}
	}
}

// registerConsoleReads adds the /v1 reads that have no original twin.
func (s *Server) registerConsoleReads() {
	// GET /v1/role_counts/{role} → {"result": <role exists>, "members": N, "permissions": N}
	s.handle(fasthttp.MethodGet, "/v1/role_counts/{role}", s.reader([]string{"key", "role"},
		func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) {
			members, perms, exists := t.RoleCounts(p.vals[1])
			ctx.SetContentType(contentJSON)
			setBody(ctx, func(b []byte) []byte {
				b = append(b, `{"result": `...)
				b = strconv.AppendBool(b, exists)
				b = append(b, `, "members": `...)
				b = strconv.AppendInt(b, int64(members), 10)
				b = append(b, `, "permissions": `...)
				b = strconv.AppendInt(b, int64(perms), 10)
				return append(b, '}')
			})
		})(v1))
}
