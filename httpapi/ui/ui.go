// Package ui is auth-server's web console: plain HTML, CSS and JavaScript,
// embedded in the binary and served by httpapi at /ui/ (see
// httpapi.Config.UI).
//
// The console holds no logic of its own: every action is one ordinary
// call of the /v1 API, made with fetch() and the tenant's key in the
// Authorization: Bearer header. The key is typed into the page and kept in
// the tab's sessionStorage only; it never goes into a URL, and the console
// sets no cookies (so there is nothing for a cross-site request to ride
// on). The event feed is read with fetch() and a streaming body reader,
// because EventSource cannot send the header.
//
// Every file is served with a strict Content-Security-Policy (scripts,
// styles and connections from this origin only, no inline script or style,
// no frames, no forms posted anywhere), and the script renders every name
// with textContent, never as HTML: a role named <img src=x onerror=...>
// shows as those characters.
package ui

import (
	"embed"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every file of the console.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
}

// Handler serves the console's files. It expects the router's catch-all
// parameter "file" (the path after /ui/); "" is the page itself.
func Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		name, _ := ctx.UserValue("file").(string)
		if name == "" {
			name = "index.html"
		}
		h := &ctx.Response.Header
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		ct, known := types[path.Ext(name)]
		var body []byte
		var err error
		if known && !strings.Contains(name, "..") && !strings.HasPrefix(name, "/") {
			body, err = static.ReadFile("static/" + name)
		}
		if !known || err != nil {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"error": "no such file"}`)
			return
		}
		ctx.SetContentType(ct)
		ctx.SetBody(body)
	}
}
