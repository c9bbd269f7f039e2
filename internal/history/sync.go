package history

import (
	"context"
	"sync"
	"time"
)

// gate lets the clients run, or holds them between two actions: pause
// returns once no action is in flight, so that the harness can look at a
// quiet cluster.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	open     bool
	closed   bool
	inflight int
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter waits until the gate is open and counts an action in flight; it
// returns false once the gate is closed for good.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.open && !g.closed {
		g.cond.Wait()
	}
	if g.closed {
		return false
	}
	g.inflight++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	g.inflight--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// pause stops new actions and waits for those in flight (each is bounded
// by the clients' timeouts).
func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
	for g.inflight > 0 {
		g.cond.Wait()
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	g.open = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

// close ends every client's loop.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

// counter counts operations and lets the harness wait for a number of
// them.
type counter struct {
	mu      sync.Mutex
	n       int
	waiters []countWaiter
}

type countWaiter struct {
	target int
	ch     chan struct{}
}

func (c *counter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if c.n >= w.target {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// await waits until the count reaches target, timeout passes or ctx ends;
// it reports whether the count was reached.
func (c *counter) await(ctx context.Context, target int, timeout time.Duration) bool {
	c.mu.Lock()
	if c.n >= target {
		c.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	c.waiters = append(c.waiters, countWaiter{target, ch})
	c.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return c.get() >= target
}
