// Package httpapi serves the HTTP API on fasthttp: the original server's
// routes, exactly as its clients expect them, and nothing of the business
// logic, which lives behind the [Service] interface.
//
// # Paths
//
// Routes are matched on the raw (still percent-encoded) path, and each path
// segment is percent-decoded on its own, so a name may hold any character
// a valid name may, an encoded slash ("%2F") included, without being
// misrouted. A '+' in a path is a plus, not a space. Malformed escapes and
// invalid names answer 400 before any work is done.
//
// # Answers
//
// Every answer is JSON. Successful answers keep the original's shapes and
// its spacing (`{"result": true}`); errors are `{"error": "..."}` with a 4xx
// or 5xx status: 400 bad input, 404 unknown route, 405 wrong method, 503
// when the store cannot take a write (nothing changed), 500 for a bug.
// Writes also report the tenant's seq after the write in the X-Auth-Seq
// header. Lists are sorted, so every replica gives the same bytes.
//
// # Pages and the console
//
// The /v1 list routes page on request (limit, after, prefix: pages.go),
// selected by the engine without sorting the whole list, and answer
// "next" only when asked with limit, so answers without them keep their
// shape. Config.UI, when set, serves the web console (package
// httpapi/ui) at /ui/; it is a client of the /v1 API like any other.
//
// # Hot path
//
// The check route decodes into pooled buffers, hashes the key on the stack
// and answers from memory: the handler itself allocates nothing. Strings
// that point into request buffers are never retained: writes copy the names
// they keep.
//
// # Hostile clients
//
// Any key is accepted (a made-up key is an empty tenant), so every bound
// holds for clients without a valid key: nothing is kept for a key that
// names no tenant once it is answered (feeds.go, watch.go); imports are
// read as streams under a byte bound, admitted one per tenant and
// Config.MaxImports at once, within a memory budget (import.go,
// memlimit.go); event streams and long-polls are capped per server and per
// client, IPv6 clients grouped by prefix, and streams end after
// Config.MaxStreamLifetime (watch.go); connections are capped likewise
// (limit.go). Past a connection cap the answer is 503, past any other cap
// 429, each with a JSON error.
//
// Keys are secrets: no log line, error message or answer carries one. The
// access log shows route templates, never paths (accesslog.go).
package httpapi
