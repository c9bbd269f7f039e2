// Package madeup asks a server under keys no one made, as an attacker
// flooding it would.
package madeup

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
)

// Routes are the routes an attack with made-up keys asks: a read, a
// long-poll, a read with min_seq, a stream and the export.
var Routes = []string{"/v1/roles", "/v1/events?wait=1ms", "/v1/roles?min_seq=2", "/v1/events/stream", "/v1/export"}

// Ask sends GET base+route under a made-up key drawn from rng and returns
// the answer's status. It reads the answer whole, but for a stream (a path
// ending in /stream): subscribed once its headers came, it goes away.
func Ask(cl *http.Client, base, route string, rng *rand.Rand) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+route, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", fmt.Sprintf("Bearer made-up-%016x", rng.Uint64()))
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	if !strings.HasSuffix(req.URL.Path, "/stream") {
		io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
