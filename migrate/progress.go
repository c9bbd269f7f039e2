package migrate

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints a line every so often while a migration runs: the
// phase, how far it is, and the time since the start.
type progress struct {
	w     io.Writer
	start time.Time
	read  readCounter
	phase atomic.Value // string
	done  atomic.Int64 // tenants done in this phase
	total atomic.Int64 // tenants of this phase
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress starts printing to w every d; with a nil w it prints
// nothing.
func startProgress(w io.Writer, d time.Duration) *progress {
	p := &progress{w: w, start: time.Now(), stop: make(chan struct{})}
	p.phase.Store("reading")
	if w == nil {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				fmt.Fprintln(p.w, p.line())
			}
		}
	}()
	return p
}

// enter starts a phase over n tenants.
func (p *progress) enter(phase string, n int) {
	p.done.Store(0)
	p.total.Store(int64(n))
	p.phase.Store(phase)
}

// line describes where the migration is.
func (p *progress) line() string {
	elapsed := time.Since(p.start).Round(time.Second)
	phase := p.phase.Load().(string)
	if phase == "reading" {
		coll, _ := p.read.coll.Load().(string)
		if coll == "" {
			return fmt.Sprintf("migrate-original: connecting to the source, %s", elapsed)
		}
		return fmt.Sprintf("migrate-original: reading %s: %d documents read, %s", coll, p.read.docs.Load(), elapsed)
	}
	return fmt.Sprintf("migrate-original: %s: %d of %d tenants, %s", phase, p.done.Load(), p.total.Load(), elapsed)
}

// close stops the printing.
func (p *progress) close() {
	close(p.stop)
	p.wg.Wait()
}
