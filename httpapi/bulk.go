package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"auth/engine"
)

// Bulk export and import, as JSON lines, one fact a line:
//
//	{"role": "cookers"}                           a role
//	{"role": "cookers", "permission": "cook"}     a grant
//	{"role": "cookers", "user": "sara"}           a membership
//
// GET /v1/export streams a tenant's whole state, from one consistent
// snapshot whose seq is in the X-Auth-Seq header: roles first, then each
// role's grants and members, sorted.
//
// POST /v1/import takes the same lines (up to Config.MaxImportBodySize) and
// applies them as one event: all of them or, on any error, none. Roles are
// created first, so lines may come in any order. It answers
// {"result": true, "seq": N, "roles": R, "permissions": P, "memberships": M}
// with the counts of lines read.

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
	id := engine.KeyID(key)
	if !s.awaitMinSeq(ctx, id) {
		return
	}
	t := s.svc.Tenant(id)
	if t == nil {
		setSeq(ctx, 0)
		ctx.SetContentType("application/x-ndjson")
		return
	}
	snap := t.Snapshot()
	setSeq(ctx, snap.Seq)
	ctx.SetContentType("application/x-ndjson")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		var b []byte
		roles := make([]int, len(snap.Roles))
		for i := range roles {
			roles[i] = i
		}
		slices.SortFunc(roles, func(a, b int) int { return strings.Compare(snap.Roles[a].Name, snap.Roles[b].Name) })
		for _, i := range roles {
			b = append(b[:0], `{"role": `...)
			b = appendString(b, snap.Roles[i].Name)
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
			}{{"permission", snap.Permissions, r.Permissions}, {"user", snap.Users, r.Members}} {
				names := make([]string, len(line.idx))
				for j, x := range line.idx {
					names[j] = line.names[x]
				}
				slices.Sort(names)
				for _, n := range names {
					b = append(b[:0], `{"role": `...)
					b = appendString(b, r.Name)
					b = append(b, `, "`...)
					b = append(b, line.field...)
					b = append(b, `": `...)
					b = appendString(b, n)
					b = append(b, "}\n"...)
					if _, err := w.Write(b); err != nil {
						return
					}
				}
			}
		}
	})
}

func (s *Server) importLines(ctx *fasthttp.RequestCtx) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	var src io.Reader = bytes.NewReader(ctx.PostBody())
	if ctx.Request.IsBodyStream() {
		src = ctx.RequestBodyStream()
	}
	body := &countingReader{r: io.LimitReader(src, int64(s.cfg.MaxImportBodySize)+1)}
	tooLarge := func() bool { return body.n > int64(s.cfg.MaxImportBodySize) }
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var (
		roles, rest      []engine.Change
		nPerms, nMembers int
		parser           fastjson.Parser
	)
	for line := 1; sc.Scan(); line++ {
		raw := sc.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		c, err := parseImportLine(&parser, raw)
		if err != "" && tooLarge() {
			break // the line was cut by the limit: answer 413 below
		}
		if err != "" {
			writeError(ctx, fasthttp.StatusBadRequest, "line "+strconv.Itoa(line)+": "+err)
			return
		}
		switch c.Op {
		case engine.OpAddRole:
			roles = append(roles, c)
		case engine.OpAddPermission:
			nPerms++
			rest = append(rest, c)
		default:
			nMembers++
			rest = append(rest, c)
		}
	}
	if tooLarge() {
		refuseTooLarge(ctx, "import body is too large")
		return
	}
	if err := sc.Err(); err != nil {
		msg := "could not read the body"
		if err == bufio.ErrTooLong {
			msg = "a line is longer than 64 KiB"
		}
		writeError(ctx, fasthttp.StatusBadRequest, msg)
		return
	}
	nRoles := len(roles)
	changes := append(roles, rest...)
	if len(changes) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "nothing to import")
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.WriteDeadline, time.Minute))
	defer cancel()
	seq, err := s.svc.WriteBatch(wctx, key, changes)
	if err != nil {
		s.writeWriteError(ctx, importPath, err, seq)
		return
	}
	setSeq(ctx, seq)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"result": true, "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `, "roles": `...)
		b = strconv.AppendInt(b, int64(nRoles), 10)
		b = append(b, `, "permissions": `...)
		b = strconv.AppendInt(b, int64(nPerms), 10)
		b = append(b, `, "memberships": `...)
		b = strconv.AppendInt(b, int64(nMembers), 10)
		return append(b, '}')
	})
}

// parseImportLine turns one line into a change, or says what is wrong.
func parseImportLine(p *fastjson.Parser, raw []byte) (engine.Change, string) {
	v, err := p.ParseBytes(raw)
	if err != nil {
		return engine.Change{}, "malformed JSON"
	}
	obj, err := v.Object()
	if err != nil {
		return engine.Change{}, "not a JSON object"
	}
	var c engine.Change
	var bad string
	var hasRole, hasPerm, hasUser bool
	obj.Visit(func(k []byte, v *fastjson.Value) {
		s, err := v.StringBytes()
		if err != nil {
			bad = "field " + strconv.Quote(string(k)) + " is not a string"
			return
		}
		switch string(k) {
		case "role":
			c.Role, hasRole = string(s), true
		case "permission":
			c.Permission, hasPerm = string(s), true
		case "user":
			c.User, hasUser = string(s), true
		default:
			bad = "unknown field " + strconv.Quote(string(k))
		}
	})
	if bad != "" {
		return c, bad
	}
	switch {
	case !hasRole:
		return c, `a line needs "role"`
	case hasPerm && hasUser:
		return c, `a line has "permission" or "user", not both`
	case hasPerm:
		c.Op = engine.OpAddPermission
	case hasUser:
		c.Op = engine.OpAddMembership
	default:
		c.Op = engine.OpAddRole
	}
	if err := c.Validate(); err != nil {
		return c, err.Error()
	}
	return c, ""
}
