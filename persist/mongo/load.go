package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"auth/engine"
	"auth/persist"
)

// Load implements persist.Store: tenants come from the tenants collection,
// and each one's snapshot and events are read by _id.
func (s *Store) Load(ctx context.Context, fn func(persist.TenantState) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	tenants, err := s.listTenants(ctx)
	if err != nil {
		return err
	}
	slices.Sort(tenants)
	for _, hex := range tenants {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mongo: load: %w: %w", persist.ErrUnavailable, err)
		}
		tenant, err := engine.ParseTenantID(hex)
		if err != nil || tenant.String() != hex {
			return fmt.Errorf("%w: tenant _id %q", errCorrupt, hex)
		}
		st, ok, err := s.loadTenant(ctx, tenant, hex)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}

// LoadTenant implements persist.Store.
func (s *Store) LoadTenant(ctx context.Context, tenant engine.TenantID) (persist.TenantState, error) {
	if err := s.enter(ctx); err != nil {
		return persist.TenantState{}, err
	}
	defer s.wg.Done()
	st, ok, err := s.loadTenant(ctx, tenant, tenant.String())
	if !ok {
		st = persist.TenantState{Tenant: tenant}
	}
	return st, err
}

func (s *Store) loadTenant(ctx context.Context, tenant engine.TenantID, hex string) (persist.TenantState, bool, error) {
	st := persist.TenantState{Tenant: tenant}
	for attempt := 0; ; attempt++ {
		snap, err := s.readSnapshot(ctx, tenant, hex)
		if err != nil {
			return st, false, err
		}
		var after uint64
		if snap != nil {
			after = snap.Seq
		}
		evs, err := s.readEvents(ctx, tenant, after, -1)
		if errors.Is(err, persist.ErrPruned) {
			// Retention deleted events after the snapshot we read: a newer
			// snapshot was saved meanwhile. Read again.
			if attempt < 5 {
				continue
			}
			return st, false, fmt.Errorf("%w: tenant %s: events after the snapshot at %d keep being deleted", persist.ErrUnavailable, hex, after)
		}
		if err != nil {
			return st, false, err
		}
		if len(evs) > 0 && evs[0].Seq != after+1 {
			return st, false, fmt.Errorf("%w: tenant %s: events start at seq %d, after a snapshot at %d",
				errCorrupt, hex, evs[0].Seq, after)
		}
		for i := range evs {
			if evs[i].Seq != after+1+uint64(i) {
				return st, false, fmt.Errorf("%w: tenant %s: seq %d missing", errCorrupt, hex, after+1+uint64(i))
			}
		}
		if len(evs) == 0 && after == 0 {
			return st, false, nil // listed, but its first append failed
		}
		st.Snapshot, st.Events = snap, evs
		return st, true, nil
	}
}
