package httpapi

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// GET /status describes this replica, for operators and for tests that
// wait on replication:
//
//	{"store": "embedded", "bus": "connected", "tenants": 3}
//	{"store": "embedded", "bus": "connected", "tenants": 3, "seq": 42}
//	{"store": "embedded", "epoch": "65cc214741437ac3", "bus": "none", "tenants": 3}
//
//   - store: the store's description, as the Service gives it ("" if it
//     gives none);
//   - epoch: the store's epoch, when it has one (see epoch.go): seqs of
//     one epoch mean nothing in another;
//   - bus: "connected" or "disconnected" for the NATS link, "none" when
//     the replica runs without one;
//   - tenants: how many tenants this replica holds in memory;
//   - seq: only when the request carries "Authorization: Bearer <key>": the
//     seq that key's tenant is applied up to here, 0 for a tenant never
//     written. The key goes in that header and nowhere else (never in the
//     URL, where logs keep it), and is never echoed; a header of another scheme or
//     an empty key answers 401, an invalid key 400, as on the /v1 routes.
//
// The route answers from memory and never touches the store or the bus.

// StatusReporter is what GET /status needs beyond [Service]. A Service that
// does not implement it gets {"store": "", "bus": "none", "tenants": 0}
// plus the seq.
type StatusReporter interface {
	// StoreDescription names the store (kind, and where if that is no
	// secret); never credentials.
	StoreDescription() string
	// BusStatus is "connected", "disconnected" or "none".
	BusStatus() string
	// TenantCount is the number of tenants held in memory.
	TenantCount() int
}

func (s *Server) registerStatus() {
	s.handle(fasthttp.MethodGet, "/status", s.statusHandler)
}

func (s *Server) statusHandler(ctx *fasthttp.RequestCtx) {
	store, bus, tenants := "", "none", 0
	if r, ok := s.svc.(StatusReporter); ok {
		store, bus, tenants = r.StoreDescription(), r.BusStatus(), r.TenantCount()
	}
	var seq uint64
	hasSeq := false
	if len(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) > 0 {
		key, ok := bearerKey(ctx)
		if !ok {
			return
		}
		acc, ok := s.authorize(ctx, key, engine.ScopeCheck, false)
		if !ok {
			return
		}
		seq, hasSeq = acc.Tenant.Seq(), true
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"store": `...)
		b = jsonstr.Append(b, store)
		if s.epoch != "" {
			b = append(b, `, "epoch": `...)
			b = jsonstr.Append(b, s.epoch)
		}
		b = append(b, `, "bus": `...)
		b = jsonstr.Append(b, bus)
		b = append(b, `, "tenants": `...)
		b = strconv.AppendInt(b, int64(tenants), 10)
		if hasSeq {
			b = append(b, `, "seq": `...)
			b = strconv.AppendUint(b, seq, 10)
		}
		return append(b, '}')
	})
}
