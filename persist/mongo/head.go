package mongo

import (
	"context"
	"errors"
	"fmt"

	"auth/engine"
)

// seenSeq returns the highest seq of the tenant this handle knows to have
// existed (0 if none): where a search for the head starts.
func (s *Store) seenSeq(hex string) uint64 {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return s.seen[hex]
}

// see records that seq of the tenant exists.
func (s *Store) see(hex string, seq uint64) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if seq > s.seen[hex] {
		s.seen[hex] = seq
	}
}

// Head implements persist.Store.
func (s *Store) Head(ctx context.Context, tenant engine.TenantID) (uint64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	ctx, cancel := s.rt(ctx)
	defer cancel()
	h, err := s.readHead(ctx, tenant.String())
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return 0, fmt.Errorf("mongo: head of tenant %s: %w", tenant, err)
		}
		return 0, unavailable("head of tenant "+tenant.String(), err)
	}
	return h, nil
}

// Heads implements persist.Store: one query (see Heads in the package doc).
func (s *Store) Heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	return s.acc.heads(ctx, fn)
}

// readHead returns the tenant's highest seq, 0 if it has none.
func (s *Store) readHead(ctx context.Context, hex string) (uint64, error) {
	return s.acc.head(ctx, hex, s.seenSeq(hex))
}

// errNotImplemented is the server error code of a feature the server
// lacks.
const errNotImplemented = 238
