package httpapi

import (
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// Caps on what a client can hold open. A stream (GET /v1/events/stream)
// and a long-poll that waits (GET /v1/events?wait=...) each count as a
// watch while they last: at most Config.MaxWatches on the server and
// Config.MaxWatchesPerClient per client; past either, the request answers
// 429 with a JSON error at once, and other clients are still served. A
// stream ends after Config.MaxStreamLifetime (a comment says so), and the
// client resumes with Last-Event-ID: heartbeats cannot keep one open for
// ever.
//
// A client is an IPv4 address, or an IPv6 prefix of Config.IPv6PrefixBits
// bits (a /64 by default: one host is commonly given a whole /64, so
// counting its addresses apart would let it hold every place). The
// connection caps (limit.go) group clients the same way.

// Messages of the watch refusals.
const (
	msgTooManyWatches          = "too many event streams and long-polls on this server; retry later"
	msgTooManyWatchesPerClient = "too many event streams and long-polls from this address; close one or retry later"
)

// clientGroup is the client a connection's address counts against: the
// address itself for IPv4, its prefix of v6Bits bits for IPv6. The zero
// Prefix is a peer with no address (a Unix socket, a pipe in tests).
func clientGroup(ip netip.Addr, v6Bits int) netip.Prefix {
	switch {
	case !ip.IsValid():
		return netip.Prefix{}
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	}
	p, err := ip.Prefix(v6Bits)
	if err != nil {
		return netip.PrefixFrom(ip, 128)
	}
	return p
}

// watchLimits counts the watches in progress.
type watchLimits struct{ clientCounts }

func newWatchLimits(max, perClient, v6Bits int) *watchLimits {
	return &watchLimits{clientCounts{max: max, perClient: perClient, v6Bits: v6Bits, byClient: map[netip.Prefix]int{}}}
}

// acquire counts a watch from ip in, or returns why it is refused.
func (l *watchLimits) acquire(ip netip.Addr) (netip.Prefix, string) {
	g := clientGroup(ip, l.v6Bits)
	switch ok, all := l.take(g); {
	case ok:
		return g, ""
	case all:
		return g, msgTooManyWatches
	}
	return g, msgTooManyWatchesPerClient
}

// startWatch counts a watch of the request's client in; past a cap it
// answers 429 and returns ok false. The caller must call done.
func (s *Server) startWatch(ctx *fasthttp.RequestCtx) (done func(), ok bool) {
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	g, msg := s.watches.acquire(ip.Unmap())
	if msg != "" {
		s.refusedWatches.Add(1)
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		writeError(ctx, fasthttp.StatusTooManyRequests, msg)
		return nil, false
	}
	return func() { s.watches.release(g) }, true
}

// unknownTenants remembers, for a short while, tenants that neither this
// replica nor the store had when a read asked for a min_seq of them, so
// that a client naming made-up keys reaches the store at most once per
// key and unknownTTL. It holds at most maxUnknown tenants (some 50
// KiB): when full it forgets the expired, or if too few have, all.
type unknownTenants struct {
	mu sync.Mutex
	m  map[engine.TenantID]int64 // when the store was last asked, Unix ns
}

const (
	unknownTTL = time.Second
	maxUnknown = 1024
)

// fresh reports whether the store was asked about id within unknownTTL.
func (u *unknownTenants) fresh(id engine.TenantID, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	at, ok := u.m[id]
	return ok && now.UnixNano()-at < int64(unknownTTL)
}

// add notes that the store had nothing of id at now.
func (u *unknownTenants) add(id engine.TenantID, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[engine.TenantID]int64)
	}
	if len(u.m) >= maxUnknown {
		for k, at := range u.m {
			if now.UnixNano()-at >= int64(unknownTTL) {
				delete(u.m, k)
			}
		}
		if len(u.m) >= maxUnknown*3/4 {
			clear(u.m) // at most one scan per maxUnknown/4 adds
		}
	}
	u.m[id] = now.UnixNano()
}
