package httpapi

import (
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"auth/engine"
)

// POST /v1/check answers many checks in one round trip, from one state:
//
//	{"checks": [{"user": "jack", "permission": "dance"}, ...]}
//	→ {"results": [true, ...]}
//
// Answers are in the order of the checks. At most Config.MaxBatchChecks
// checks per request; a bad name anywhere refuses the whole batch (400,
// naming the check's index).

func (s *Server) registerBatchCheck() {
	s.handle(fasthttp.MethodPost, "/v1/check", s.batchCheck)
}

type batchScratch struct {
	parser fastjson.Parser
	checks []engine.Check
	out    []bool
}

var batchPool = sync.Pool{New: func() any { return new(batchScratch) }}

func (s *Server) batchCheck(ctx *fasthttp.RequestCtx) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	body, ok := readBody(ctx, s.cfg.MaxRequestBodySize)
	if !ok {
		return
	}
	sc := batchPool.Get().(*batchScratch)
	defer batchPool.Put(sc)
	v, err := sc.parser.ParseBytes(body)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	checks := v.Get("checks")
	if v.Type() != fastjson.TypeObject || checks == nil || checks.Type() != fastjson.TypeArray {
		writeError(ctx, fasthttp.StatusBadRequest, `body must be {"checks": [{"user": ..., "permission": ...}, ...]}`)
		return
	}
	arr, _ := checks.Array()
	if len(arr) > s.cfg.MaxBatchChecks {
		writeError(ctx, fasthttp.StatusBadRequest, "too many checks: at most "+strconv.Itoa(s.cfg.MaxBatchChecks))
		return
	}
	sc.checks = sc.checks[:0]
	for i, c := range arr {
		uv, pv := c.Get("user"), c.Get("permission")
		if uv == nil || pv == nil || uv.Type() != fastjson.TypeString || pv.Type() != fastjson.TypeString {
			writeError(ctx, fasthttp.StatusBadRequest, "check "+strconv.Itoa(i)+": needs a string user and permission")
			return
		}
		user, _ := uv.StringBytes()
		perm, _ := pv.StringBytes()
		u, p := b2s(user), b2s(perm)
		if err := engine.ValidName(u); err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "check "+strconv.Itoa(i)+": user: "+err.Error())
			return
		}
		if err := engine.ValidName(p); err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "check "+strconv.Itoa(i)+": permission: "+err.Error())
			return
		}
		sc.checks = append(sc.checks, engine.Check{User: u, Permission: p})
	}
	t, ok := s.readTenantScoped(ctx, v1, key, engine.ScopeCheck)
	if !ok {
		return
	}
	sc.out = t.CheckMany(sc.checks, sc.out[:0])
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"results": [`...)
		for i, r := range sc.out {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendBool(b, r)
		}
		return append(b, "]}"...)
	})
	clear(sc.checks) // drop references into the request
}
