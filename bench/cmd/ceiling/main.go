// Command ceiling is the benchmark's ceiling: a bare fasthttp server that
// answers every GET /api/has_permission/{key}/{user}/{name} with the
// constant {"result": true}, as auth-server's check would, and GET /ping
// with PONG. No routing library, no parsing of the parameters, no state:
// what is left is fasthttp's own cost per request, which is what the real
// server is compared to.
//
//	ceiling -addr 127.0.0.1:4100
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

var (
	answerTrue  = []byte(`{"result": true}`)
	answerPong  = []byte(`{"message": "PONG"}`)
	checkPrefix = []byte("/api/has_permission/")
)

func handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch {
	case ctx.IsGet() && bytes.HasPrefix(path, checkPrefix):
		ctx.SetContentType("application/json")
		ctx.SetBody(answerTrue)
	case ctx.IsGet() && string(path) == "/ping":
		ctx.SetContentType("application/json")
		ctx.SetBody(answerPong)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:4100", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	// The same server settings auth-server uses (httpapi.DefaultConfig).
	srv := &fasthttp.Server{
		Handler:                      handler,
		Name:                         "auth-server",
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		MaxRequestBodySize:           1 << 20,
		DisablePreParseMultipartForm: true,
	}
	fmt.Fprintln(os.Stderr, "ceiling: serving on", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}
