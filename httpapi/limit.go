package httpapi

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// connLimits caps the connections a server holds, in all and per client
// (an IPv4 address, or an IPv6 prefix: see clientGroup), over all its
// listeners. A connection past a cap is answered
// by the listener itself, with 503 and a JSON error like every other
// refusal of the API. (fasthttp's own caps answer in plain text, with no
// way to change it; the server sets them above these, so that they never
// act first.)
type connLimits struct {
	clientCounts
	rejected atomic.Uint64
}

// clientCounts counts what a server holds (connections, watches), in all
// and per client (a clientGroup), under a cap on each.
type clientCounts struct {
	max, perClient int // perClient 0: no cap
	v6Bits         int // IPv6 clients are grouped by prefixes this long

	mu       sync.Mutex
	n        int
	byClient map[netip.Prefix]int
}

// take counts one more of client g in. Past a cap it counts nothing and
// returns ok false, with all true if the cap is the server's, false if it
// is the client's.
func (c *clientCounts) take(g netip.Prefix) (ok, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.max {
		return false, true
	}
	if c.perClient > 0 && g.IsValid() {
		if c.byClient[g] >= c.perClient {
			return false, false
		}
		c.byClient[g]++
	}
	c.n++
	return true, false
}

// release gives back a place take gave client g.
func (c *clientCounts) release(g netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.perClient > 0 && g.IsValid() {
		if n := c.byClient[g] - 1; n > 0 {
			c.byClient[g] = n
		} else {
			delete(c.byClient, g)
		}
	}
}

// count is the number held.
func (c *clientCounts) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Messages of the two refusals.
const (
	msgTooManyConns      = "too many connections to this server; retry shortly"
	msgTooManyConnsPerIP = "too many connections from this address; retry shortly"
)

// rejectWriteTimeout bounds the write of a refusal, so that a client that
// does not read cannot hold up the accept loop.
const rejectWriteTimeout = 100 * time.Millisecond

func newConnLimits(max, perIP, v6Bits int) *connLimits {
	return &connLimits{clientCounts: clientCounts{max: max, perClient: perIP, v6Bits: v6Bits, byClient: map[netip.Prefix]int{}}}
}

// limitListener is a listener under a server's connLimits.
type limitListener struct {
	net.Listener
	l *connLimits
}

// Accept returns the next connection within the caps, answering and
// closing those past them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g := clientGroup(addrOf(c.RemoteAddr()), l.l.v6Bits)
		if msg := l.l.admit(g); msg != "" {
			l.l.rejected.Add(1)
			reject(c, msg)
			continue
		}
		return &limitConn{Conn: c, l: l.l, ip: g}, nil
	}
}

// admit counts a new connection from client ip (a clientGroup), or
// returns why it is refused.
func (l *connLimits) admit(ip netip.Prefix) string {
	switch ok, all := l.take(ip); {
	case ok:
		return ""
	case all:
		return msgTooManyConns
	}
	return msgTooManyConnsPerIP
}

// addrOf is the IP address of a connection's peer, or the zero Addr for
// peers that have none (a Unix socket, a pipe in tests).
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// reject answers c with 503 and a JSON error, and closes it.
func reject(c net.Conn, msg string) {
	body := `{"error": ` + strconv.Quote(msg) + `}`
	_ = c.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	_ = c.Close()
}

// limitConn gives its place back when closed.
type limitConn struct {
	net.Conn
	l      *connLimits
	ip     netip.Prefix
	closed atomic.Bool
}

func (c *limitConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return c.Conn.Close()
}
