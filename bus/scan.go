package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"auth/engine"
)

// wantScan asks for a store scan, from a connection callback.
func (b *Bus) wantScan(why string) {
	b.log.Info("bus: link up; catching up from the store", "why", why)
	b.needScan.Store(true)
	if b.loaded.Load() {
		b.kickScan()
	}
}

func (b *Bus) kickScan() {
	select {
	case b.scanKick <- struct{}{}:
	default:
	}
}

// scanLoop compares the store's heads with ours every Converge/2, and at
// once when a (re)connect asks for it, one comparison at a time; a failed
// one is retried after SyncInterval. The periodic comparison needs no NATS:
// it is what bounds how long any tenant stays behind, whatever was lost.
func (b *Bus) scanLoop() {
	defer b.wg.Done()
	every := time.NewTicker(b.cfg.Converge / 2)
	defer every.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.scanKick:
		case <-retry:
		case <-every.C:
		}
		retry = nil
		// After a (re)connect, the subscription is confirmed live at the
		// server first, so that what is published from then on arrives
		// and the comparison covers what came before.
		confirm := b.needScan.Swap(false)
		if confirm && !b.nc.IsConnected() {
			// The connect or reconnect handler wakes us again; compare
			// with the store meanwhile all the same.
			b.needScan.Store(true)
			confirm = false
		}
		if err := b.scan(confirm); err != nil {
			if confirm {
				b.needScan.Store(true)
			}
			if b.ctx.Err() != nil {
				return
			}
			b.st[cScanErrors].Add(1)
			b.log.Warn("bus: comparing with the store's heads failed; will retry", "err", err)
			retry = time.After(b.cfg.SyncInterval)
		}
	}
}

// scan compares every tenant's head in the store with ours and Syncs those
// we are behind on (including tenants never heard of). With confirm, it
// first makes sure the subscription is live at the server.
func (b *Bus) scan(confirm bool) error {
	if confirm {
		if err := b.nc.FlushTimeout(b.cfg.FlushTimeout); err != nil {
			return fmt.Errorf("confirming subscription: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.ScanTimeout)
	defer cancel()
	start := time.Now()
	var behind []engine.TenantID
	tenants := 0
	err := b.store.Heads(ctx, func(id engine.TenantID, head uint64) error {
		tenants++
		if head > b.eng.Seq(id) {
			behind = append(behind, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the store's heads: %w", err)
	}
	b.st[cScans].Add(1)
	b.st[cScanBehind].Add(uint64(len(behind)))
	b.markSync(behind)
	level := slog.LevelDebug
	if confirm || len(behind) > 0 {
		level = slog.LevelInfo
	}
	b.log.Log(ctx, level, "bus: compared with the store's heads", "tenants", tenants, "behind", len(behind), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}
