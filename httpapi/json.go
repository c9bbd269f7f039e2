package httpapi

import (
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"auth/engine"
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
	setBody(ctx, func(b []byte) []byte { return append(appendResultSeq(b, v, seq), '}') })
}

// appendResultSeq appends `{"result": bool, "seq": N`, the start of a /v1
// write's answer, to b.
func appendResultSeq(b []byte, v bool, seq uint64) []byte {
	b = append(b, `{"result": `...)
	b = strconv.AppendBool(b, v)
	b = append(b, `, "seq": `...)
	return strconv.AppendUint(b, seq, 10)
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

// writeList answers {"<top>": [{"<field>": name}, ...]}: a page without
// a limit (writePage).
func writeList(ctx *fasthttp.RequestCtx, top, field string, names []string) {
	writePage(ctx, top, field, names, engine.Page{}, false)
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
