// Package admin is the operator's listener, apart from the API: a
// consistent copy of the embedded store while the server serves
// (GET /admin/backup), and Go's profiles (/debug/pprof/). It is off unless
// an address is configured, and it is not for the public network: without
// a token it listens only on a loopback address and answers only loopback
// peers; with one (Config.Token) it may listen anywhere (a container's
// interface, say) and every request must carry "Authorization: Bearer
// <token>".
//
// It is a plain net/http server of its own, so that the API's listener,
// its limits and its routes never see these routes, and these never count
// in the API's metrics.
package admin
