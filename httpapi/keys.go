package httpapi

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// Keys and scopes (engine/keys.go). Every route needs a scope of its key:
// the checks (has_permission and the batch check) need check, every other
// read, the export and the event feed need read, writes and the key routes
// need admin. A key outside its scope gets 403; a revoked key, or one of
// the server's form ("ak_...") that no replica has made, gets 401 on every
// route, /api ones included. A key of the server's form this replica has
// not heard of yet brings its tenant up to date from the store before the
// answer (at most once per key and unknownTTL: made-up keys must not each
// cost a store read). Any other key no tenant has keeps its old meaning:
// an empty tenant that its first write creates, unless
// Config.ClosedTenants refuses such writes (401).
//
//	POST   /v1/keys         {"name": "billing", "scope": "check"}
//	                        → {"id": "k_...", "key": "ak_...", "name": "billing", "scope": "check", "seq": N}
//	GET    /v1/keys         → {"keys": [{"id": ..., "name": ..., "scope": ..., "created": ...}]}
//	DELETE /v1/keys/{id}    → {"result": true, "seq": N}; 404 for no such key
//	POST   /v1/keys/rotate  → a new admin key as POST /v1/keys answers, and
//	                          "revoked": the calling key's id, in one event
//	DELETE /v1/tenant       → {"result": true, "seq": N, "gone_everywhere_by": TIME}
//
// Deleting a tenant (an admin key) is one event, del_tenant: every replica
// that applies it drops the tenant's state and keys, keeping only that it
// was deleted, so that its first key is never again taken as the name of a
// fresh tenant (401 on every route, as a revoked key), and every later
// event (one a replica that had not heard of the deletion yet wrote) is
// refused. The replicas then purge the store of what its events held (see
// persist.Store.Purge). A replica applies the event within the bus's
// convergence bound: gone_everywhere_by is the event's time plus it (the
// answer's time for a server without replicas); a read with min_seq N at
// any replica answers as of the deletion at once.
//
// The secret of a new key is in its answer only: the tenant keeps the
// hash of it.

// Messages of the refusals.
const (
	msgRevoked   = "key revoked or unknown"
	msgClosed    = "unknown key: this server makes tenants deliberately (-open-tenants=false)"
	msgForbidden = "the key's scope does not allow this route"
)

// Syncer is what a Service offers to bring a tenant up to the store's
// head, for keys of the server's form this replica has not heard of yet.
type Syncer interface {
	Sync(ctx context.Context, id engine.TenantID) error
}

// authorize answers 401 or 403 and returns false unless key may do what
// needs scope need (a write, when write is set).
func (s *Server) authorize(ctx *fasthttp.RequestCtx, key string, need engine.Scope, write bool) (engine.Access, bool) {
	return s.authorizeAccess(ctx, key, s.svc.Access(key), need, write)
}

// authorizeAccess is authorize with the key's access already looked up.
func (s *Server) authorizeAccess(ctx *fasthttp.RequestCtx, key string, a engine.Access, need engine.Scope, write bool) (engine.Access, bool) {
	if a.Status == engine.KeyUnknown {
		a = s.catchUp(key, a)
	}
	switch a.Status {
	case engine.KeyUnknown, engine.KeyRevoked:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, "Bearer")
		writeError(ctx, fasthttp.StatusUnauthorized, msgRevoked)
		return a, false
	case engine.KeyNew:
		if write && s.cfg.ClosedTenants {
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, "Bearer")
			writeError(ctx, fasthttp.StatusUnauthorized, msgClosed)
			return a, false
		}
	}
	if !a.Scope.Allows(need) {
		writeError(ctx, fasthttp.StatusForbidden, msgForbidden+": it needs the "+need.String()+" scope")
		return a, false
	}
	return a, true
}

// catchUp brings the tenant a key of the server's form names up to the
// store's head, unless the store was asked about the key within
// unknownTTL, and looks the key up again.
func (s *Server) catchUp(key string, a engine.Access) engine.Access {
	syncer, ok := s.svc.(Syncer)
	if !ok {
		return a
	}
	h := engine.KeyID(key)
	now := time.Now()
	if s.unknownKeys.fresh(h, now) {
		return a
	}
	s.unknownKeys.add(h, now)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.MinSeqWait)
	defer cancel()
	if err := syncer.Sync(ctx, a.ID); err != nil {
		s.cfg.Logger.Warn("catching up a tenant for a key not known here", "tenant", a.ID.String(), "err", err)
	}
	return s.svc.Access(key)
}

// bearerAccess reads the key from the Authorization header and authorizes
// it (authorize); on failure it has answered.
func (s *Server) bearerAccess(ctx *fasthttp.RequestCtx, need engine.Scope, write bool) (string, engine.Access, bool) {
	key, ok := bearerKey(ctx)
	if !ok {
		return "", engine.Access{}, false
	}
	a, ok := s.authorize(ctx, key, need, write)
	return key, a, ok
}

func (s *Server) registerKeys() {
	s.handle(fasthttp.MethodPost, "/v1/keys", s.addKey)
	s.handle(fasthttp.MethodGet, "/v1/keys", s.listKeys)
	s.handle(fasthttp.MethodDelete, "/v1/keys/{id}", s.delKey)
	s.handle(fasthttp.MethodPost, "/v1/keys/rotate", s.rotateKey)
	s.handle(fasthttp.MethodDelete, "/v1/tenant", s.delTenant)
}

func (s *Server) delTenant(ctx *fasthttp.RequestCtx) {
	key, _, ok := s.bearerAccess(ctx, engine.ScopeAdmin, true)
	if !ok {
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
	defer cancel()
	result, seq, err := s.svc.Write(wctx, key, engine.Change{Op: engine.OpDelTenant})
	if err != nil {
		s.writeWriteError(ctx, "/v1/tenant", err, seq)
		return
	}
	s.setSeq(ctx, seq)
	gone := time.Now().Add(s.cfg.ConvergeWithin).UTC()
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = appendResultSeq(b, result, seq)
		b = append(b, `, "gone_everywhere_by": "`...)
		b = gone.AppendFormat(b, time.RFC3339)
		return append(b, `"}`...)
	})
}

// keyRequest is the body of POST /v1/keys and POST /v1/keys/rotate.
type keyRequest struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
}

// readKeyRequest reads a key's name and scope from the body; an empty
// body takes the defaults. On failure it has answered 400.
func readKeyRequest(ctx *fasthttp.RequestCtx, limit int, defName string, defScope engine.Scope) (string, engine.Scope, bool) {
	body, ok := readBody(ctx, limit)
	if !ok {
		return "", 0, false
	}
	req := keyRequest{Name: defName, Scope: defScope.String()}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, `body must be {"name": ..., "scope": "check", "read" or "admin"}`)
			return "", 0, false
		}
	}
	if req.Name == "" {
		req.Name = defName
	}
	if err := engine.ValidName(req.Name); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "name: "+err.Error())
		return "", 0, false
	}
	scope, err := engine.ParseScope(req.Scope)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return "", 0, false
	}
	return req.Name, scope, true
}

func (s *Server) addKey(ctx *fasthttp.RequestCtx) {
	key, a, ok := s.bearerAccess(ctx, engine.ScopeAdmin, true)
	if !ok {
		return
	}
	name, scope, ok := readKeyRequest(ctx, s.cfg.MaxRequestBodySize, "", engine.ScopeCheck)
	if !ok {
		return
	}
	if name == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "name: a key needs a name")
		return
	}
	s.issueKey(ctx, "/v1/keys", key, a, name, scope, "")
}

func (s *Server) rotateKey(ctx *fasthttp.RequestCtx) {
	key, a, ok := s.bearerAccess(ctx, engine.ScopeAdmin, true)
	if !ok {
		return
	}
	name, _, ok := readKeyRequest(ctx, s.cfg.MaxRequestBodySize, "rotated", engine.ScopeAdmin)
	if !ok {
		return
	}
	s.issueKey(ctx, "/v1/keys/rotate", key, a, name, engine.ScopeAdmin, a.Key)
}

// issueKey makes a key of a's tenant and answers it, its secret shown
// this once: one add_key event, or, with revoked, one that also revokes
// that key (a rotation).
func (s *Server) issueKey(ctx *fasthttp.RequestCtx, route, key string, a engine.Access, name string, scope engine.Scope, revoked string) {
	secret, rec, err := engine.NewKey(a.ID, name, scope)
	if err != nil {
		s.writeWriteError(ctx, route, err, 0)
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
	defer cancel()
	var seq uint64
	if revoked == "" {
		_, seq, err = s.svc.Write(wctx, key, engine.AddKeyChange(rec))
	} else {
		seq, err = s.svc.WriteBatch(wctx, key, []engine.Change{engine.AddKeyChange(rec), engine.DelKeyChange(revoked)})
	}
	if err != nil {
		s.writeWriteError(ctx, route, err, seq)
		return
	}
	s.setSeq(ctx, seq)
	writeNewKey(ctx, rec, secret, seq, revoked)
}

// writeNewKey answers a new key, its secret shown this once.
func writeNewKey(ctx *fasthttp.RequestCtx, rec engine.KeyRecord, secret string, seq uint64, revoked string) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"id": `...)
		b = jsonstr.Append(b, rec.ID)
		b = append(b, `, "key": `...)
		b = jsonstr.Append(b, secret)
		b = append(b, `, "name": `...)
		b = jsonstr.Append(b, rec.Name)
		b = append(b, `, "scope": "`...)
		b = append(b, rec.Scope.String()...)
		b = append(b, '"')
		if revoked != "" {
			b = append(b, `, "revoked": `...)
			b = jsonstr.Append(b, revoked)
		}
		b = append(b, `, "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}')
	})
}

func (s *Server) delKey(ctx *fasthttp.RequestCtx) {
	key, _, ok := s.bearerAccess(ctx, engine.ScopeAdmin, true)
	if !ok {
		return
	}
	id, _ := ctx.UserValue("id").(string)
	c := engine.DelKeyChange(id)
	if err := c.Validate(); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "id: "+err.Error())
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
	defer cancel()
	result, seq, err := s.svc.Write(wctx, key, c)
	if err != nil {
		s.writeWriteError(ctx, "/v1/keys/{id}", err, seq)
		return
	}
	s.setSeq(ctx, seq)
	if !result {
		writeError(ctx, fasthttp.StatusNotFound, "no such key")
		return
	}
	writeResultSeq(ctx, true, seq)
}

func (s *Server) listKeys(ctx *fasthttp.RequestCtx) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	t, ok := s.readTenantScoped(ctx, v1, key, engine.ScopeAdmin)
	if !ok {
		return
	}
	keys := t.Keys()
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"keys": [`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `{"id": `...)
			b = jsonstr.Append(b, k.ID)
			b = append(b, `, "name": `...)
			b = jsonstr.Append(b, k.Name)
			b = append(b, `, "scope": "`...)
			b = append(b, k.Scope.String()...)
			b = append(b, '"')
			if !k.Created.IsZero() {
				b = append(b, `, "created": "`...)
				b = k.Created.UTC().AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			}
			b = append(b, '}')
		}
		return append(b, "]}"...)
	})
}
