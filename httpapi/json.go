package httpapi

import (
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"auth/internal/jsonstr"
)

// The answers keep the original server's JSON spacing (Python's json.dumps
// defaults), so that clients that compared bytes keep working.
var (
	answerTrue  = []byte(`{"result": true}`)
	answerFalse = []byte(`{"result": false}`)
	answerPong  = []byte(`{"message": "PONG"}`)
)

const contentJSON = "application/json"

func writeBool(ctx *fasthttp.RequestCtx, v bool) {
	ctx.SetContentType(contentJSON)
	if v {
		ctx.SetBody(answerTrue)
	} else {
		ctx.SetBody(answerFalse)
	}
}

// bufPool holds buffers answers are built in before fasthttp copies them.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func setBody(ctx *fasthttp.RequestCtx, build func(b []byte) []byte) {
	bp := bufPool.Get().(*[]byte)
	*bp = build((*bp)[:0])
	ctx.SetBody(*bp)
	if cap(*bp) <= 1<<20 {
		bufPool.Put(bp)
	}
}

// writeResultSeq answers {"result": bool, "seq": N}, a /v1 write.
func writeResultSeq(ctx *fasthttp.RequestCtx, v bool, seq uint64) {
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"result": `...)
		b = strconv.AppendBool(b, v)
		b = append(b, `, "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}')
	})
}

// writeBehind answers 409: this replica has not reached the seq asked for.
func writeBehind(ctx *fasthttp.RequestCtx, seq uint64) {
	ctx.SetStatusCode(fasthttp.StatusConflict)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"error": "this replica has not reached min_seq yet; retry, here or elsewhere", "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}')
	})
}

// writeList answers {"<top>": [{"<field>": name}, ...]}.
func writeList(ctx *fasthttp.RequestCtx, top, field string, names []string) {
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
		return append(b, "]}"...)
	})
}

func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"error": `...)
		b = jsonstr.Append(b, msg)
		return append(b, '}')
	})
}
