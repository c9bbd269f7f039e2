package mongo_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
)

// cutProxy forwards MongoDB connections to a server. Once armed, it lets
// the next insert into the events collection reach the server, then cuts
// the connection before the answer comes back: the insert happens, and the
// client cannot know it. If refuse is set it then refuses every connection.
type cutProxy struct {
	l      net.Listener
	target string
	armed  atomic.Bool
	refuse atomic.Bool
	cuts   atomic.Int32
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
		go func() { defer p.wg.Done(); p.forward(c, s); s.Close(); c.Close() }()
	}
}

// forward copies client messages to the server one wire message at a time.
func (p *cutProxy) forward(c, s net.Conn) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n < 16 || n > 64<<20 {
			return
		}
		msg := make([]byte, n)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c, msg[4:]); err != nil {
			return
		}
		isInsert := bytes.Contains(msg, []byte("\x02insert\x00\x07\x00\x00\x00events\x00"))
		if isInsert && p.armed.Load() {
			p.armed.Store(false)
			// Let the server take the insert but never pass the answer on.
			c.(*net.TCPConn).CloseRead()
			c.Close()
			if _, err := s.Write(msg); err != nil {
				return
			}
			// Counted before the pause: the client may retry, and finish,
			// within it.
			p.cuts.Add(1)
			time.Sleep(200 * time.Millisecond)
			return
		}
		if _, err := s.Write(msg); err != nil {
			return
		}
	}
}

func (p *cutProxy) uri() string { return "mongodb://" + p.l.Addr().String() + "/" }

// cutFixture is a store that reaches a test server through a cutProxy,
// and a tenant whose first event it has appended.
type cutFixture struct {
	srv   *mongotest.Server
	p     *cutProxy
	cfg   mongo.Config
	s     *mongo.Store
	tn    engine.TenantID
	first engine.Event
}

// newCutFixture opens the store, with configure's changes to its
// configuration, and appends tenant's first event.
func newCutFixture(t *testing.T, tenant string, configure func(*mongo.Config)) *cutFixture {
	t.Helper()
	f := &cutFixture{srv: mongotest.Start(t), tn: engine.KeyID(tenant)}
	f.p = newCutProxy(t, f.srv.Addr())
	f.cfg = mongo.DefaultConfig(f.p.uri())
	f.cfg.Database = mongotest.Database(t)
	configure(&f.cfg)
	f.s = open(t, f.cfg)
	f.first = addRole(f.tn, 1, "a")
	if err := f.s.Append(ctxT(t), &f.first); err != nil {
		t.Fatal(err)
	}
	return f
}

// An insert that happened but whose answer was lost is found again: the
// append succeeds at the seq it took, and the event is stored once.
func TestAmbiguousInsertResolved(t *testing.T) {
	f := newCutFixture(t, "ambiguous", func(*mongo.Config) {})
	s, p, tn := f.s, f.p, f.tn
	p.armed.Store(true)
	ev := addRole(tn, 2, "b")
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatalf("Append through a cut connection: %v", err)
	}
	if p.cuts.Load() != 1 {
		t.Fatal("the proxy cut no connection")
	}
	if ev.Seq != 2 {
		t.Fatalf("seq %d, want 2", ev.Seq)
	}
	evs, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].ID != 2 {
		t.Fatalf("stored %d events: %v", len(evs), evs)
	}
}

// If the server stays away after such an insert, Append says the outcome is
// unknown, and the event is there once the server is back.
func TestAmbiguousInsertUnresolved(t *testing.T) {
	f := newCutFixture(t, "ambiguous", func(c *mongo.Config) { c.Timeout = time.Second })
	s, p, tn := f.s, f.p, f.tn
	p.armed.Store(true)
	p.refuse.Store(true)
	ev := addRole(tn, 2, "b")
	err := s.Append(context.Background(), &ev)
	if !errors.Is(err, persist.ErrUnavailable) || !errors.Is(err, persist.ErrAmbiguous) {
		t.Fatalf("Append: %v, want ErrUnavailable and ErrAmbiguous", err)
	}
	if ev.Seq != 0 {
		t.Fatalf("failed Append left seq %d", ev.Seq)
	}
	direct := mongo.DefaultConfig(f.srv.URI())
	direct.Database = f.cfg.Database
	evs, err := open(t, direct).Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].ID != 2 {
		t.Fatalf("stored %d events: %v", len(evs), evs)
	}
}
