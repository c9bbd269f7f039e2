package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"auth/engine"
	mongostore "auth/persist/mongo"
)

// The store's events settle writes of unknown outcome. Porcupine can place
// such a write anywhere after its call, or nowhere, and a part with many
// of them takes it exponentially long. But a write that changed the state
// left an event, with its change, in the store; so at each checkpoint the
// harness reads the tenant's new events from the store, and before the
// check each write of unknown outcome is settled when it can be:
//
//   - no event of its change comes after the writes acknowledged before it
//     was made, and none of those events were deleted (retention): it made
//     no event, so it changed nothing (whether it happened or not), and it
//     is left out of the history;
//   - exactly one such event, which no other write (of unknown outcome,
//     acknowledged with that seq, or refused) could have made: its seq is
//     that event's (its answer stays unknown).
//
// Otherwise it stays open. The events only narrow what an unknown write
// may have done; the check of everything else is unchanged, so a store
// that lied could only make the check fail.

// eventLog is a tenant's events as the harness read them; a seq missing
// below top was deleted (retention) or never read.
type eventLog struct {
	events map[uint64]string // seq -> the change, as contentKey
	top    uint64            // every seq up to top was looked for
}

// readEvents reads each active tenant's events after what was read
// before, from the store; it is called with the clients quiet.
func (r *runner) readEvents(ctx context.Context, tenants []int) error {
	if r.store == nil {
		cfg := mongostore.DefaultConfig(r.cl.mongoURI)
		cfg.Database = r.cl.db
		cfg.Timeout = time.Minute
		// A reader that knows events may be deleted reads past the gaps;
		// it never saves a snapshot, so it deletes nothing.
		cfg.KeepEvents = 1
		st, err := mongostore.Open(ctx, cfg)
		if err != nil {
			return err
		}
		r.store = st
	}
	if r.logs == nil {
		r.logs = make([]eventLog, r.cfg.Tenants)
	}
	for _, t := range tenants {
		l := &r.logs[t]
		if l.events == nil {
			l.events = map[uint64]string{}
		}
		evs, err := r.store.Events(ctx, engine.KeyID(r.keys[t]), l.top, -1)
		if err != nil {
			return err
		}
		for i := range evs {
			l.events[evs[i].Seq] = contentKey(evs[i].Op, &evs[i].Change, evs[i].Changes)
			l.top = max(l.top, evs[i].Seq)
		}
	}
	return nil
}

// contentKey names a change (or a batch's changes, in any order) so that
// a write and its event compare equal. The big import's members are
// counted, not listed.
func contentKey(op engine.Op, c *engine.Change, changes []engine.Change) string {
	one := func(c *engine.Change) string { return fmt.Sprintf("%s(%q,%q,%q)", c.Op, c.Role, c.Permission, c.User) }
	if op != engine.OpBatch {
		return one(c)
	}
	var parts []string
	bulk := 0
	for i := range changes {
		if changes[i].Op == engine.OpAddMembership && changes[i].Role == roleNames[bulkRole] && strings.HasPrefix(changes[i].User, "b-") {
			bulk++
			continue
		}
		parts = append(parts, one(&changes[i]))
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	return fmt.Sprintf("batch[%s]+%d", strings.Join(parts, ","), bulk)
}

// inputKey is contentKey of the event a write makes.
func (in *Input) key(bulkLines int) string {
	ev := in.event(bulkLines)
	return contentKey(ev.Op, &ev.Change, ev.Changes)
}

// event is what the server makes of a write: one change, or for an import
// the batch httpapi builds (role lines first, then the rest in order), the
// big import with bulkLines lines.
func (in *Input) event(bulkLines int) engine.Event {
	switch in.Kind {
	case AddRole:
		return engine.Event{Change: engine.Change{Op: engine.OpAddRole, Role: roleNames[in.Role]}}
	case DelRole:
		return engine.Event{Change: engine.Change{Op: engine.OpDelRole, Role: roleNames[in.Role]}}
	case AddPerm:
		return engine.Event{Change: engine.Change{Op: engine.OpAddPermission, Role: roleNames[in.Role], Permission: permNames[in.Perm]}}
	case DelPerm:
		return engine.Event{Change: engine.Change{Op: engine.OpDelPermission, Role: roleNames[in.Role], Permission: permNames[in.Perm]}}
	case AddMember:
		return engine.Event{Change: engine.Change{Op: engine.OpAddMembership, Role: roleNames[in.Role], User: userNames[in.User]}}
	case DelMember:
		return engine.Event{Change: engine.Change{Op: engine.OpDelMembership, Role: roleNames[in.Role], User: userNames[in.User]}}
	case Import:
	default:
		return engine.Event{} // not a write
	}
	var roles, rest []engine.Change
	for _, l := range in.Lines {
		switch {
		case l.Perm >= 0:
			rest = append(rest, engine.Change{Op: engine.OpAddPermission, Role: roleNames[l.Role], Permission: permNames[l.Perm]})
		case l.User >= 0:
			rest = append(rest, engine.Change{Op: engine.OpAddMembership, Role: roleNames[l.Role], User: userNames[l.User]})
		default:
			roles = append(roles, engine.Change{Op: engine.OpAddRole, Role: roleNames[l.Role]})
		}
	}
	if in.Bulk {
		roles = append(roles, engine.Change{Op: engine.OpAddRole, Role: roleNames[bulkRole]})
		for i := range bulkLines - 1 {
			rest = append(rest, engine.Change{Op: engine.OpAddMembership, Role: roleNames[bulkRole], User: bulkUser(i)})
		}
	}
	return engine.Event{Change: engine.Change{Op: engine.OpBatch}, Changes: append(roles, rest...)}
}

// settleUnknown settles what the store's events tell of each write of
// unknown outcome (see the top of this file).
func (r *runner) settleUnknown() {
	if r.logs == nil {
		return
	}
	byTenant := map[int][]*Op{}
	for _, op := range r.ops {
		if op.Input.Kind != Read {
			byTenant[op.Tenant] = append(byTenant[op.Tenant], op)
		}
	}
	for t, ops := range byTenant {
		l := &r.logs[t]
		keys := map[*Op]string{}
		for _, op := range ops {
			keys[op] = op.Input.key(r.cfg.BulkLines)
		}
		// Events an unknown write must not be pinned to: one a known
		// write of the same change answered (it may be that write's own),
		// or one of a change a refused write made too.
		taken := map[uint64]bool{}
		refusedKeys := map[string]bool{}
		for _, op := range ops {
			switch {
			case op.Refused && op.Status != 0: // answered 503: it may have happened all the same
				refusedKeys[keys[op]] = true
			case !op.Output.Unknown && op.Output.SeqKnown && l.events[op.Output.Seq] == keys[op]:
				taken[op.Output.Seq] = true
			}
		}
		// For each unknown write, the events of its change after the
		// writes acknowledged before it was made, up to the checkpoint
		// by which it is over (see partitions).
		cands := map[*Op][]uint64{}
		dense := map[*Op]bool{}
		for _, u := range ops {
			if !u.Output.Unknown {
				continue
			}
			var lower uint64
			for _, op := range ops {
				if !op.Refused && !op.Output.Unknown && op.Output.SeqKnown && op.Return < u.Call {
					lower = max(lower, op.Output.Seq)
				}
			}
			upper := min(l.top, r.overBy(t, u.Round))
			dense[u] = lower <= upper
			for seq := lower + 1; seq <= upper; seq++ {
				key, ok := l.events[seq]
				switch {
				case !ok:
					dense[u] = false
				case key == keys[u]:
					cands[u] = append(cands[u], seq)
				}
			}
		}
		users := map[uint64]int{}
		for _, seqs := range cands {
			for _, s := range seqs {
				users[s]++
			}
		}
		for u := range dense {
			switch seqs := cands[u]; {
			case len(seqs) == 0 && dense[u]:
				u.NoEvent = true
			case len(seqs) == 1 && users[seqs[0]] == 1 && !taken[seqs[0]] && !refusedKeys[keys[u]]:
				u.Output.Seq, u.Output.SeqKnown = seqs[0], true
			}
		}
	}
}

// overBy is tenant t's seq at the checkpoint by which a write made in
// round is over: the second one at or after its round (the first ends its
// part of the history, where it may take effect, and the second the next
// part, where it may too). Without one, every seq.
func (r *runner) overBy(t, round int) uint64 {
	n := 0
	for _, cp := range r.marks {
		if cp.round < round {
			continue
		}
		if n++; n == 2 {
			if s, ok := cp.states[t]; ok {
				return s.SeqHi
			}
			break
		}
	}
	return ^uint64(0)
}

// storedAt describes the store's event at seq of tenant t, if read.
func (r *runner) storedAt(t int, seq uint64) string {
	if r.logs == nil {
		return ""
	}
	if key, ok := r.logs[t].events[seq]; ok {
		return key
	}
	return ""
}
