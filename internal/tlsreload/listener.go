package tlsreload

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// Listener returns a listener that serves TLS with r's certificate on the
// connections inner accepts. The handshake happens on a connection's
// first read or write (see Listener in the package doc).
func (r *Reloader) Listener(inner net.Listener) net.Listener {
	return &listener{Listener: inner, config: r.base}
}

type listener struct {
	net.Listener
	config *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: tls.Server(c, l.config)}, nil
}

// conn is a server TLS connection whose write deadline bounds its
// handshake as long as nothing has been read or written.
type conn struct {
	*tls.Conn
	// used is set once a read or a write succeeded: the handshake is
	// done.
	used atomic.Bool
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err == nil && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

// SetWriteDeadline sets the write deadline and, before the handshake, the
// read deadline too: a write then runs the handshake, whose reads would
// otherwise wait without end for a client that sends nothing, holding up
// whoever writes (an accept loop refusing the connection at a cap).
func (c *conn) SetWriteDeadline(t time.Time) error {
	if !c.used.Load() {
		if err := c.Conn.SetReadDeadline(t); err != nil {
			return err
		}
	}
	return c.Conn.SetWriteDeadline(t)
}
