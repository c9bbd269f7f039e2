package httpapi

import (
	"context"
	"slices"
	"sync"
	"time"

	"auth/engine"
)

// The streams and long-polls of a tenant share one reader of the store.
//
// While a tenant has watchers (SSE streams, long-polls that wait), it has a
// feed: one goroutine that, each time the Service says the tenant moved
// (Service.OnApplied), reads the new events from the store once and keeps
// the latest of them in memory, in a window, for every watcher to take
// from. A write to a tenant with 1,000 streams is one store read, not
// 1,000. A watcher that is behind the window (a stream resuming from an
// old seq) reads its own pages from the store until it reaches it.
//
// A feed lives only while the tenant has watchers: the last to leave stops
// its reader and drops it, so that watching keys that name no tenant
// leaves nothing behind once the watchers are gone.

// Bounds of a feed's window: at most maxEventLimit events, and at most
// windowWeight changes (a batch weighs its changes) beyond its latest
// event, which it always keeps for the watchers still writing it out.
const windowWeight = 4096

type feeds struct {
	svc         Service
	readTimeout time.Duration

	mu sync.Mutex
	m  map[engine.TenantID]*feed
}

type feed struct {
	id   engine.TenantID
	refs int           // watchers; feeds.mu
	wake chan struct{} // poked when the tenant moves; capacity 1
	stop chan struct{} // closed when the last watcher leaves

	mu     sync.Mutex
	base   uint64         // the window holds events (base, head]
	head   uint64         // the seq the reader has read up to
	window []engine.Event // consecutive seqs base+1 .. head
	weight int            // changes in window
	news   chan struct{}  // closed when head moves or a read fails
	err    error          // the last read's failure, until one succeeds
}

func newFeeds(svc Service, readTimeout time.Duration) *feeds {
	fs := &feeds{svc: svc, readTimeout: readTimeout, m: make(map[engine.TenantID]*feed)}
	svc.OnApplied(fs.applied)
	return fs
}

// applied is told of every applied event; it runs under the tenant's
// apply lock, so it only pokes the tenant's feed, if any.
func (fs *feeds) applied(id engine.TenantID, _ uint64) {
	fs.mu.Lock()
	f := fs.m[id]
	fs.mu.Unlock()
	if f != nil {
		select {
		case f.wake <- struct{}{}:
		default: // a poke is pending already
		}
	}
}

// join makes the caller a watcher of tenant id; it must leave.
func (fs *feeds) join(id engine.TenantID) *feed {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[id]; f != nil {
		f.refs++
		return f
	}
	f := &feed{id: id, refs: 1, wake: make(chan struct{}, 1), stop: make(chan struct{}), news: make(chan struct{})}
	fs.m[id] = f
	// Read after the feed is in the map: an event applied from now on
	// pokes it; one applied before is at or below this seq.
	f.base = fs.svc.Tenant(id).Seq()
	f.head = f.base
	go fs.read(f)
	return f
}

// leave ends a watcher; the last one stops the feed.
func (fs *feeds) leave(f *feed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.refs--; f.refs == 0 {
		delete(fs.m, f.id)
		close(f.stop)
	}
}

// count is the number of tenants with a feed.
func (fs *feeds) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.m)
}

// read is the feed's one reader of the store.
func (fs *feeds) read(f *feed) {
	for {
		select {
		case <-f.wake:
		case <-f.stop:
			return
		}
		for !fs.catchUp(f) { // a read failed: try again shortly
			select {
			case <-time.After(feedRetry):
			case <-f.stop:
				return
			}
		}
	}
}

// feedRetry is how long a feed waits to read again after a failed read.
const feedRetry = time.Second

// catchUp reads the tenant's events up to its applied seq into the window;
// false if a read failed.
func (fs *feeds) catchUp(f *feed) bool {
	for {
		f.mu.Lock()
		head := f.head
		f.mu.Unlock()
		if fs.svc.Tenant(f.id).Seq() <= head {
			f.publish(nil, nil) // caught up: a failure before is over
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), fs.readTimeout)
		evs, err := fs.svc.Events(ctx, f.id, head, maxEventLimit)
		cancel()
		f.publish(evs, err)
		if err != nil {
			return false
		}
		if len(evs) == 0 {
			return true
		}
		select {
		case <-f.stop:
			return true
		default:
		}
	}
}

// publish adds what a read gave to the window and tells the watchers.
func (f *feed) publish(evs []engine.Event, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(evs) == 0 && err == nil && f.err == nil {
		return // nothing new to tell
	}
	f.err = err
	for i := range evs {
		if evs[i].Seq != f.head+1 {
			break // never: the store gives consecutive seqs
		}
		f.window = append(f.window, evs[i])
		f.weight += weight(&evs[i])
		f.head = evs[i].Seq
	}
	drop := 0
	for drop < len(f.window)-1 && (f.weight > windowWeight || len(f.window)-drop > maxEventLimit) {
		f.weight -= weight(&f.window[drop])
		drop++
	}
	if drop > 0 {
		// A copy, so that the events dropped are not held by the array;
		// watchers still writing them hold their own slices.
		f.window = slices.Clone(f.window[drop:])
		f.base += uint64(drop)
	}
	close(f.news)
	f.news = make(chan struct{})
}

func weight(ev *engine.Event) int { return 1 + len(ev.Changes) }

// since returns the window's events after seq after, up to limit, and a
// channel closed at the feed's next news. covered is false when the
// window does not reach back to after: the caller reads the store.
func (f *feed) since(after uint64, limit int) (evs []engine.Event, covered bool, news <-chan struct{}, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, true, f.news, f.err
	}
	if after < f.base {
		return nil, false, f.news, nil
	}
	if after >= f.head {
		return nil, true, f.news, nil
	}
	i := int(after - f.base)
	return f.window[i:min(len(f.window), i+limit)], true, f.news, nil
}
