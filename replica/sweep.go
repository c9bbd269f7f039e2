package replica

import (
	"context"
	"log/slog"
	"time"

	"auth/engine"
)

// Expired memberships. A membership whose window has ended counts for
// nothing, but the state keeps it (and the audit trail its window) until
// a sweep removes it: one event per tenant (engine.OpSweepWindows) that
// names a cutoff, now less a grace period, and removes every membership
// whose window ended at or before it. The cutoff is rounded down to
// SweepRound, so that replicas sweeping at about the same time name the
// same one: the second finds nothing left to remove and writes nothing,
// and were it written, applying it would remove nothing more.

// SweepRound is what a sweep's cutoff is rounded down to.
const SweepRound = time.Minute

// SweepWindows writes, for each tenant that holds a membership whose
// window ended at or before now-grace (rounded down to SweepRound), the
// event that removes them, and returns how many it wrote.
func (r *Replica) SweepWindows(ctx context.Context, now time.Time, grace time.Duration) (int, error) {
	c := engine.SweepChange(now.Add(-grace).Truncate(SweepRound))
	n := 0
	for _, id := range r.eng.Tenants() {
		t := r.eng.Tenant(id)
		if !t.HasWindows() {
			continue
		}
		if _, changes := t.Answer(&c); !changes {
			continue
		}
		if _, _, err := r.WriteEvent(ctx, engine.Event{Tenant: id, Change: c}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunSweeper sweeps (SweepWindows) every interval until ctx ends, logging
// what it wrote and what failed.
func (r *Replica) RunSweeper(ctx context.Context, grace, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n, err := r.SweepWindows(ctx, now, grace)
			if err != nil && ctx.Err() == nil {
				log.Warn("sweeping expired memberships", "err", err, "tenants_swept", n)
			} else if n > 0 {
				log.Info("swept expired memberships", "tenants", n)
			}
		}
	}
}
