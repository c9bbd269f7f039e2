package httpapi

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClientGroup(t *testing.T) {
	for _, c := range []struct {
		ip   string
		bits int
		want string
	}{
		{"192.0.2.7", 64, "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
	} {
		got := clientGroup(netip.MustParseAddr(c.ip), c.bits)
		if diff := cmp.Diff(c.want, got.String()); diff != "" {
			t.Errorf("clientGroup(%s, %d) (-want +got):\n%s", c.ip, c.bits, diff)
		}
	}
	if clientGroup(netip.Addr{}, 64).IsValid() {
		t.Error("a peer without an address has a group")
	}
}

// addrConn is a connection from a given remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// fakeListener hands out connections from the addresses queued on it.
type fakeListener struct {
	net.Listener
	from chan string
}

func (l fakeListener) Accept() (net.Conn, error) {
	a := <-l.from
	c, peer := net.Pipe()
	go func() { // the refused peer reads its 503
		buf := make([]byte, 512)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	return addrConn{Conn: c, remote: &net.TCPAddr{IP: net.ParseIP(a), Port: 1}}, nil
}

// TestConnectionCapGroupsIPv6: the per-address connection cap counts an
// IPv6 /64 as one client, so that one host's many addresses cannot hold
// every place; other prefixes and IPv4 clients are counted apart.
func TestConnectionCapGroupsIPv6(t *testing.T) {
	l := newConnLimits(100, 2, 64)
	ln := &limitListener{Listener: fakeListener{from: make(chan string, 10)}, l: l}
	from := ln.Listener.(fakeListener).from
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, _ := ln.Accept()
			accepted <- c
		}
	}()
	accept := func(a string) net.Conn {
		from <- a
		select {
		case c := <-accepted:
			return c
		case <-time.After(200 * time.Millisecond):
			return nil // refused: Accept went on waiting for the next one
		}
	}
	c1 := accept("2001:db8:1:2::1")
	c2 := accept("2001:db8:1:2::ffff")
	if c1 == nil || c2 == nil {
		t.Fatal("the first two connections of a /64 were refused")
	}
	if accept("2001:db8:1:2:abcd::9") != nil {
		t.Fatal("a third address of the same /64 was admitted past the cap of 2")
	}
	if l.rejected.Load() != 1 {
		t.Fatalf("refusals counted: %d", l.rejected.Load())
	}
	if accept("2001:db8:1:3::1") == nil || accept("192.0.2.1") == nil {
		t.Fatal("another /64, or an IPv4 client, was refused")
	}
	c1.Close()
	if accept("2001:db8:1:2::77") == nil {
		t.Fatal("a closed connection did not give its /64 its place back")
	}
}

// TestWatchLimitsGroupIPv6: the watch caps group clients the same way.
func TestWatchLimitsGroupIPv6(t *testing.T) {
	l := newWatchLimits(10, 1, 64)
	g, msg := l.acquire(netip.MustParseAddr("2001:db8::1"))
	if msg != "" {
		t.Fatal(msg)
	}
	if _, msg := l.acquire(netip.MustParseAddr("2001:db8::2")); msg != msgTooManyWatchesPerClient {
		t.Fatalf("a second watch from the same /64: %q", msg)
	}
	if _, msg := l.acquire(netip.MustParseAddr("2001:db8:0:1::2")); msg != "" {
		t.Fatalf("another /64: %q", msg)
	}
	l.release(g)
	if _, msg := l.acquire(netip.MustParseAddr("2001:db8::3")); msg != "" {
		t.Fatalf("after a release: %q", msg)
	}
}
