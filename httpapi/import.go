package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"auth/engine"
)

// POST /v1/import (see bulk.go for the format) under hard bounds:
//
//   - The body is read as a stream, chunked or not, and its bytes are
//     counted as they are read: the moment they pass
//     Config.MaxImportBodySize the import answers 413, having held no more
//     than one line of it. (fasthttp's Request.Body would read a streamed
//     body whole, limit or not; nothing here calls it on a stream.)
//   - What an import holds is its parsed changes: an engine.Change (56
//     bytes) per line and the bytes of its user names; role and
//     permission names repeat across lines and are held once. The changes
//     are gathered in fixed blocks and copied once into a slice of the
//     exact size, so that no slice is regrown (a regrown slice holds up to
//     2.25x its contents while it is copied). The whole import, parsing,
//     store and apply, measured, is in bench/RESULTS.md (authbench attack).
//   - One import at a time per tenant, and Config.MaxImports at a time per
//     server; past either the import answers 429 with a JSON error before
//     reading its body.
//   - While an import runs, the process may grow by importFactor times its
//     body's bytes read so far, enforced through the runtime's soft memory
//     limit (memlimit.go). One larger than importFreeAfter collects its
//     parse blocks before the store and the engine allocate for it, and
//     gives its transient memory back to the operating system once
//     answered (refused or not), so that the process's size after it is
//     its state's, not its peak's.

// importBlock is how many facts a block holds (40 bytes each: ~640 KiB).
const importBlock = 16 << 10

// maxInterned bounds the role and permission names an import shares
// between its lines.
const maxInterned = 1 << 16

// importFreeAfter is the body size above which an import is followed by
// debug.FreeOSMemory: a forced collection costs a fraction of what parsing
// that much took.
const importFreeAfter = 16 << 20

// Messages of the import refusals.
const (
	msgImportsBusy       = "too many imports in progress on this server; retry later"
	msgTenantImportBusy  = "an import into this tenant is in progress; retry when it has answered"
	msgImportTooLarge    = "import body is too large"
	msgImportLineTooLong = "a line is longer than 64 KiB"
)

// importSlots admits imports: at most max at once, one per tenant.
type importSlots struct {
	mu      sync.Mutex
	max     int
	running map[engine.TenantID]struct{}
}

func newImportSlots(max int) *importSlots {
	return &importSlots{max: max, running: make(map[engine.TenantID]struct{}, max)}
}

// acquire takes a slot for tenant id, or returns why it cannot.
func (l *importSlots) acquire(id engine.TenantID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.running[id]; busy {
		return msgTenantImportBusy
	}
	if len(l.running) >= l.max {
		return msgImportsBusy
	}
	l.running[id] = struct{}{}
	return ""
}

func (l *importSlots) release(id engine.TenantID) {
	l.mu.Lock()
	delete(l.running, id)
	l.mu.Unlock()
}

// refuseBusy answers 429 with a JSON error, without reading the body.
func refuseBusy(ctx *fasthttp.RequestCtx, msg string) {
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
	refuseBody(ctx, fasthttp.StatusTooManyRequests, msg)
}

func (s *Server) importLines(ctx *fasthttp.RequestCtx) {
	key, acc, ok := s.bearerAccess(ctx, engine.ScopeAdmin, true)
	if !ok {
		return
	}
	var first []engine.Change
	switch mode := string(ctx.QueryArgs().Peek("mode")); mode {
	case "", "merge":
	case "replace":
		first = []engine.Change{{Op: engine.OpClear}}
	default:
		writeError(ctx, fasthttp.StatusBadRequest, `mode must be "merge" or "replace"`)
		return
	}
	id := acc.ID
	if msg := s.imports.acquire(id); msg != "" {
		s.refusedImports.Add(1)
		refuseBusy(ctx, msg)
		return
	}
	defer s.imports.release(id)
	mem := importMem.begin()
	defer mem.end()

	limit := int64(s.cfg.MaxImportBodySize)
	var src io.Reader
	if ctx.Request.IsBodyStream() {
		src = ctx.RequestBodyStream()
	} else {
		src = bytes.NewReader(ctx.PostBody()) // already read whole, within the server's own limit
	}
	body := &countingReader{r: io.LimitReader(src, limit+1)}
	parsed, errMsg := parseImport(body, limit, mem)
	if body.n > importFreeAfter {
		// Accepted or not, a large import leaves its parse behind.
		defer debug.FreeOSMemory()
	}
	switch {
	case body.n > limit:
		refuseTooLarge(ctx, msgImportTooLarge)
		return
	case errMsg != "":
		writeError(ctx, fasthttp.StatusBadRequest, errMsg)
		return
	}
	changes := parsed.changes(first...)
	if len(changes) == len(first) {
		writeError(ctx, fasthttp.StatusBadRequest, "nothing to import")
		return
	}
	if body.n > importFreeAfter {
		// The blocks are garbage now: collect them before the store and
		// the engine allocate for the import.
		runtime.GC()
	}
	wctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.WriteDeadline, time.Minute))
	defer cancel()
	seq, err := s.svc.WriteBatch(wctx, key, changes)
	if err != nil {
		s.writeWriteError(ctx, importPath, err, seq)
		return
	}
	nRoles, nPerms, nMembers, nIncl := countOps(changes)
	s.setSeq(ctx, seq)
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
		if nIncl > 0 {
			b = append(b, `, "inclusions": `...)
			b = strconv.AppendInt(b, int64(nIncl), 10)
		}
		return append(b, '}')
	})
}

func countOps(changes []engine.Change) (roles, perms, members, inclusions int) {
	for i := range changes {
		switch changes[i].Op {
		case engine.OpAddRole:
			roles++
		case engine.OpAddPermission:
			perms++
		case engine.OpAddMembership, engine.OpAddMembershipWindow:
			members++
		case engine.OpAddInclusion:
			inclusions++
		}
	}
	return roles, perms, members, inclusions
}

// importParse is an import's lines, parsed: roles apart (they are applied
// first) and the other changes in fixed blocks, in the order read.
type importParse struct {
	roles []engine.Change
	// windowed are the memberships with a window, which a block's
	// importFact has no room for; they follow the blocks.
	windowed []engine.Change
	blocks   [][]importFact
	n        int // facts in blocks
	names    map[string]string
}

var allFields = engine.Fields()

// importFact is a fact other than a role, as a block keeps it: its role
// and its one other name, smaller than an engine.Change, which has room
// for every field.
type importFact struct {
	op          engine.Op
	field       engine.Field // the other name's
	role, other string
}

// add keeps change c, a fact.
func (p *importParse) add(c engine.Change) {
	if c.Op == engine.OpAddRole {
		p.roles = append(p.roles, c)
		return
	}
	if c.Op == engine.OpAddMembershipWindow {
		p.windowed = append(p.windowed, c)
		return
	}
	f := importFact{op: c.Op, role: c.Role}
	for _, fl := range allFields {
		if fl != engine.FieldRole && c.Op.Needs().Has(fl) {
			f.field, f.other = fl, *fl.In(&c)
		}
	}
	if len(p.blocks) == 0 || len(p.blocks[len(p.blocks)-1]) == importBlock {
		p.blocks = append(p.blocks, make([]importFact, 0, importBlock))
	}
	last := &p.blocks[len(p.blocks)-1]
	*last = append(*last, f)
	p.n++
}

// changes returns every change, roles first, after the changes of first,
// in one slice of the exact size; the blocks are let go as they are copied.
func (p *importParse) changes(first ...engine.Change) []engine.Change {
	out := make([]engine.Change, 0, len(first)+len(p.roles)+p.n+len(p.windowed))
	out = append(out, first...)
	out = append(out, p.roles...)
	p.roles = nil
	for i, b := range p.blocks {
		for _, f := range b {
			c := engine.Change{Op: f.op, Role: f.role}
			*f.field.In(&c) = f.other
			out = append(out, c)
		}
		p.blocks[i] = nil
	}
	out = append(out, p.windowed...)
	p.windowed = nil
	return out
}

// intern returns b as a string, shared with earlier lines that named the
// same role or permission.
func (p *importParse) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.names) < maxInterned {
		if p.names == nil {
			p.names = make(map[string]string)
		}
		p.names[s] = s
	}
	return s
}

// parseImport reads lines from r, which stops after limit+1 bytes, and
// parses them; on bad input it returns what is wrong. A line cut by the
// limit is not reported: the caller answers 413 for it.
func parseImport(r *countingReader, limit int64, mem *importBudget) (importParse, string) {
	var p importParse
	next := int64(0) // the next count of bytes read at which to grow the budget
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var parser fastjson.Parser
	for line := 1; sc.Scan(); line++ {
		if r.n >= next {
			mem.grow(r.n)
			next = r.n + budgetStep
			// Let the checks go first (as the engine's large changes do):
			// a megabyte of lines is a few milliseconds of parsing.
			runtime.Gosched()
		}
		raw := sc.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		c, err := parseImportLineWith(&parser, raw, p.intern)
		if err != "" {
			if r.n > limit {
				return p, "" // the line was cut by the limit
			}
			return p, "line " + strconv.Itoa(line) + ": " + err
		}
		p.add(c)
	}
	mem.grow(r.n)
	if r.n > limit {
		return p, ""
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return p, msgImportLineTooLong
		}
		return p, "could not read the body"
	}
	return p, ""
}

// msgImportLineFields refuses a line whose fields are those of no fact.
var msgImportLineFields = importLineFields()

// importLineFields says which fields a line may have: those of one of the
// facts of the op table.
func importLineFields() string {
	var alts []string
	for _, op := range engine.Ops() {
		if !op.IsFact() {
			continue
		}
		var names, may []string
		for _, f := range op.Needs().Fields() {
			names = append(names, strconv.Quote(f.String()))
		}
		for _, f := range op.May().Fields() {
			may = append(may, strconv.Quote(f.String()))
		}
		alt := strings.Join(names, " and ")
		if len(may) > 0 {
			alt += " with " + strings.Join(may, " and/or ")
		}
		alts = append(alts, alt)
	}
	return "a line has the fields of one fact: " + strings.Join(alts, ", or ")
}

// parseImportLine turns one line into a change, or says what is wrong.
func parseImportLine(p *fastjson.Parser, raw []byte) (engine.Change, string) {
	return parseImportLineWith(p, raw, func(b []byte) string { return string(b) })
}

// parseImportLineWith is parseImportLine, with the strings of role and
// permission names made by shared.
func parseImportLineWith(p *fastjson.Parser, raw []byte, shared func([]byte) string) (engine.Change, string) {
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
	var present engine.FieldSet
	obj.Visit(func(k []byte, v *fastjson.Value) {
		s, err := v.StringBytes()
		if err != nil {
			bad = "field " + strconv.Quote(string(k)) + " is not a string"
			return
		}
		f, ok := engine.FieldNamed(k)
		if !ok {
			bad = "unknown field " + strconv.Quote(string(k))
			return
		}
		if f.Shared() {
			*f.In(&c) = shared(s)
		} else {
			*f.In(&c) = string(s)
		}
		present = present.With(f)
	})
	if bad != "" {
		return c, bad
	}
	op, ok := engine.FactOp(present)
	if !ok {
		return c, msgImportLineFields
	}
	c.Op = op
	if err := c.Validate(); err != nil {
		return c, err.Error()
	}
	return c, ""
}
