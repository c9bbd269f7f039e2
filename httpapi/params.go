package httpapi

import (
	"bytes"
	"strings"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// maxSegment bounds a raw path segment: a name of MaxKeyLen bytes, each
// percent-encoded.
const maxSegment = 3 * engine.MaxKeyLen

// params holds a request's decoded path parameters. The strings point into
// buf or into the request, so they are valid only until the handler returns
// and the params go back to the pool.
type params struct {
	buf  []byte
	vals [3]string
	n    int
}

var paramsPool = sync.Pool{New: func() any { return &params{buf: make([]byte, 0, 512)} }}

func getParams() *params { return paramsPool.Get().(*params) }

func putParams(p *params) {
	p.buf = p.buf[:0]
	p.vals = [3]string{}
	p.n = 0
	paramsPool.Put(p)
}

// key returns the first parameter, the secret key.
func (p *params) key() string { return p.vals[0] }

// owned returns the i-th parameter as a string that owns its bytes, for
// values the engine keeps.
func (p *params) owned(i int) string { return strings.Clone(p.vals[i]) }

// parse decodes and validates the named path parameters, as the router
// matched them, in order; the first must be the key. On failure it answers
// 400 and returns false.
func (p *params) parse(ctx *fasthttp.RequestCtx, names ...string) bool {
	var raws [len(params{}.vals)]string
	for i, name := range names {
		raws[i], _ = ctx.UserValue(name).(string)
	}
	return p.parseRaw(ctx, names, raws[:len(names)])
}

// parseV1 is parse for the /v1 routes: names[0] is the key, read from the
// Authorization header instead of the path.
func (p *params) parseV1(ctx *fasthttp.RequestCtx, names ...string) bool {
	key, ok := bearerKey(ctx)
	if !ok {
		return false
	}
	var raws [len(params{}.vals)]string
	for i, name := range names[1:] {
		raws[i+1], _ = ctx.UserValue(name).(string)
	}
	if !p.parseRaw(ctx, names[1:], raws[1:len(names)]) {
		return false
	}
	copy(p.vals[1:], p.vals[:len(names)-1])
	p.vals[0] = key
	return true
}

var bearer = []byte("bearer ")

// authorizationName is Authorization in canonical form: the names of a
// parsed header are normalized already, so PeekCanonical finds it without
// normalizing the name asked for on every request (Peek's way, which cost
// a check on /v1 a third of its time).
var authorizationName = []byte(fasthttp.HeaderAuthorization)

// bearerKey reads the key from "Authorization: Bearer <key>". It answers
// 401 if there is none and 400 if it is not a valid key. The key points
// into the request; it is valid until the handler returns.
func bearerKey(ctx *fasthttp.RequestCtx) (string, bool) {
	auth := ctx.Request.Header.PeekCanonical(authorizationName)
	if len(auth) == 0 {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, "Bearer")
		writeError(ctx, fasthttp.StatusUnauthorized, "missing key: send Authorization: Bearer <key>")
		return "", false
	}
	// The scheme is case-insensitive; clients send "Bearer ", which is
	// compared first, as one string.
	if len(auth) < len(bearer) || string(auth[:len(bearer)]) != "Bearer " && !bytes.EqualFold(auth[:len(bearer)], bearer) {
		writeError(ctx, fasthttp.StatusUnauthorized, "Authorization must be \"Bearer <key>\"")
		return "", false
	}
	key := auth[len(bearer):]
	if len(key) > 0 && key[0] == ' ' {
		key = bytes.TrimLeft(key, " ")
	}
	if len(key) == 0 {
		writeError(ctx, fasthttp.StatusUnauthorized, "empty key in Authorization")
		return "", false
	}
	k := unsafe.String(&key[0], len(key))
	if err := engine.ValidKey(k); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "Authorization: "+err.Error())
		return "", false
	}
	return k, true
}

// parseRaw decodes and validates raw path segments named names into
// p.vals in order; a segment named "key" is validated as a key, any other as
// a name.
func (p *params) parseRaw(ctx *fasthttp.RequestCtx, names, raws []string) bool {
	// Decoded values are appended to buf; reserve room for all of them so
	// that buf never moves while earlier values point into it.
	need := 0
	for _, raw := range raws {
		need += len(raw)
	}
	if cap(p.buf) < need {
		p.buf = make([]byte, 0, need)
	}
	for i, name := range names {
		raw := raws[i]
		if !shortParam(ctx, name, raw) {
			return false
		}
		v, ok := p.decode(raw)
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, name+" has a malformed percent-encoding")
			return false
		}
		if !validParam(ctx, name, v) {
			return false
		}
		p.vals[i] = v
	}
	p.n = len(names)
	return true
}

// plainParam is parseRaw for one segment without escapes, which is its
// own value: it answers 400 and returns false unless raw is valid as the
// parameter name.
func plainParam(ctx *fasthttp.RequestCtx, name, raw string) bool {
	return shortParam(ctx, name, raw) && validParam(ctx, name, raw)
}

// shortParam answers 400 and returns false if raw, the segment of the
// parameter name, is too long to decode.
func shortParam(ctx *fasthttp.RequestCtx, name, raw string) bool {
	if len(raw) > maxSegment {
		writeError(ctx, fasthttp.StatusBadRequest, name+" is too long")
		return false
	}
	return true
}

// validParam answers 400 and returns false unless v, the decoded value of
// the parameter name, is valid: as a key for "key", as a name for any
// other.
func validParam(ctx *fasthttp.RequestCtx, name, v string) bool {
	var err error
	if name == "key" {
		err = engine.ValidKey(v)
	} else {
		err = engine.ValidName(v)
	}
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, name+": "+err.Error())
		return false
	}
	return true
}

// decode percent-decodes one path segment. A segment without escapes is
// returned as it is, without copying.
func (p *params) decode(raw string) (string, bool) {
	if strings.IndexByte(raw, '%') < 0 {
		return raw, true
	}
	start := len(p.buf)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			p.buf = append(p.buf, c)
			continue
		}
		if i+2 >= len(raw) {
			return "", false
		}
		hi, ok1 := unhex(raw[i+1])
		lo, ok2 := unhex(raw[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		p.buf = append(p.buf, hi<<4|lo)
		i += 2
	}
	b := p.buf[start:]
	if len(b) == 0 {
		return "", true
	}
	return unsafe.String(&b[0], len(b)), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// b2s views b as a string without copying; b must outlive the string's use
// and not change meanwhile.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
