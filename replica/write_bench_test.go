package replica_test

import (
	"context"
	"fmt"
	"testing"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo/mongotest"
	"auth/replica"
)

// BenchmarkWrite measures one write through the replica, on each store:
// a change (an event appended and applied, as always), and a no-op (a
// revoke of what is not granted), which is decided at the store's head: one
// read of the head, no event. Their ratio, measured in the same run, is the
// cost of deciding no-ops at the truth.
//
//	go test ./replica -run '^$' -bench Write -benchtime 2000x
func BenchmarkWrite(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) persist.Store
	}{
		{"embedded", func(b *testing.B) persist.Store {
			s := openStore(b, b.TempDir())
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"mongo", func(b *testing.B) persist.Store { return openMongo(b, mongotest.Config(b)) }},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			r := newReplica(b, st.open(b), replica.DefaultConfig())
			ctx := context.Background()
			const key = "bench"
			if _, _, err := r.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: "r"}); err != nil {
				b.Fatal(err)
			}
			b.Run("change", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if _, _, err := r.Write(ctx, key, engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprintf("u%d", i)}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("noop", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := r.Write(ctx, key, engine.Change{Op: engine.OpDelMembership, Role: "r", User: "nobody"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
