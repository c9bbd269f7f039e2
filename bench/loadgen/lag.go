package loadgen

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// LagStats is the replication lag of a run's writes: for every write to
// tenant 0 acknowledged by one replica (its X-Auth-Seq answer), and every
// other replica, the time from the acknowledgement until that replica's
// GET /status first reported the tenant at that seq or later. Each replica
// is polled every Poll, so a figure is late by up to Poll plus a round
// trip; a replica that had the seq before the writer answered counts 0.
type LagStats struct {
	Writes  int     `json:"writes"`  // acknowledged writes measured
	Samples int     `json:"samples"` // (write, other replica) pairs
	Unseen  int     `json:"unseen"`  // pairs never seen within LagWait after the run
	P50     float64 `json:"p50_us"`
	P90     float64 `json:"p90_us"`
	P99     float64 `json:"p99_us"`
	Max     float64 `json:"max_us"`
	Poll    string  `json:"poll"`
}

// LagWait bounds how long the prober waits after a run for every replica
// to reach the last acknowledged seq.
const LagWait = 10 * time.Second

type writeAck struct {
	addr int
	seq  uint64
	at   time.Time
}

// seqSeen is when a replica's /status first answered seq (or more).
type seqSeen struct {
	at  time.Time
	seq uint64
}

type lagProber struct {
	poll   time.Duration
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   [][]seqSeen // per replica, seqs increasing
	target uint64      // once set, pollers stop when their replica reaches it
	errs   int
}

func startLagProber(ctx context.Context, opts Options) *lagProber {
	poll := opts.LagPoll
	if poll <= 0 {
		poll = 2 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &lagProber{poll: poll, cancel: cancel, seen: make([][]seqSeen, len(opts.Addrs))}
	for i, addr := range opts.Addrs {
		p.wg.Add(1)
		go p.run(ctx, i, NewClient(addr, 1, time.Second), opts.LagKey)
	}
	return p
}

func (p *lagProber) run(ctx context.Context, i int, c *fasthttp.HostClient, key string) {
	defer p.wg.Done()
	defer c.CloseIdleConnections()
	req, resp, release := acquire(c.Addr, [][2]string{{"Authorization", "Bearer " + key}})
	defer release()
	req.SetRequestURI("/status")
	t := time.NewTicker(p.poll)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.DoTimeout(req, resp, time.Second); err != nil || resp.StatusCode() != fasthttp.StatusOK {
			p.mu.Lock()
			p.errs++
			p.mu.Unlock()
			continue
		}
		now := time.Now()
		seq, ok := statusSeq(resp.Body())
		if !ok || seq <= last {
			if ok && p.reached(seq) {
				return
			}
			continue
		}
		last = seq
		p.mu.Lock()
		p.seen[i] = append(p.seen[i], seqSeen{at: now, seq: seq})
		p.mu.Unlock()
		if p.reached(seq) {
			return
		}
	}
}

func (p *lagProber) reached(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target > 0 && seq >= p.target
}

// statusSeq reads "seq": N out of a /status answer.
func statusSeq(b []byte) (uint64, bool) {
	field := []byte(`"seq": `)
	at := bytes.Index(b, field)
	if at < 0 {
		return 0, false
	}
	j := at + len(field)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	seq, err := strconv.ParseUint(string(b[j:k]), 10, 64)
	return seq, err == nil
}

// finish waits until every replica reports the highest acknowledged seq
// (at most LagWait), stops polling and computes the lags of acks.
func (p *lagProber) finish(acks []writeAck) *LagStats {
	var top uint64
	for _, a := range acks {
		top = max(top, a.seq)
	}
	p.mu.Lock()
	p.target = max(top, 1)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(LagWait):
	}
	p.cancel()
	<-done

	st := &LagStats{Writes: len(acks), Poll: p.poll.String()}
	h := hdr.New(1, 120e9, 3)
	for _, a := range acks {
		for b, seen := range p.seen {
			if b == a.addr {
				continue
			}
			st.Samples++
			i, _ := slices.BinarySearchFunc(seen, a.seq, func(s seqSeen, seq uint64) int {
				switch {
				case s.seq < seq:
					return -1
				case s.seq > seq:
					return 1
				}
				return 0
			})
			if i == len(seen) {
				st.Unseen++
				continue
			}
			_ = h.RecordValue(max(0, seen[i].at.Sub(a.at).Nanoseconds()))
		}
	}
	if h.TotalCount() > 0 {
		us := func(ns int64) float64 { return float64(ns) / 1e3 }
		st.P50, st.P90, st.P99, st.Max = us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90)), us(h.ValueAtQuantile(99)), us(h.Max())
	}
	return st
}
