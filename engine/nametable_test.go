package engine

import (
	"hash/maphash"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// tableNames are names around the inline limit: short, exactly inlineKey
// bytes, and longer ones that share their first inlineKey bytes.
func tableNames() []string {
	var out []string
	for i := range 12 {
		out = append(out, "u"+strconv.Itoa(i))
	}
	long := strings.Repeat("p", inlineKey-2)
	for i := range 30 {
		out = append(out, long+"x"+strconv.Itoa(i)) // 39 bytes for i < 10, then 40
	}
	for i := range 4 {
		out = append(out, strings.Repeat("q", inlineKey+10)+strconv.Itoa(i))
	}
	return out
}

// tableModel is a nameTable of userEntry with its names kept by index, as
// the tenant keeps them.
type tableModel struct {
	tab   nameTable[userEntry]
	names map[uint32]string
	next  uint32
}

func newTableModel() *tableModel {
	m := &tableModel{names: map[uint32]string{}}
	m.tab = newNameTable(func(e *userEntry) string { return m.names[e.idx] })
	return m
}

func (m *tableModel) put(name string) (uint32, bool) {
	v, fresh := m.tab.put(name)
	if fresh {
		v.idx = m.next
		m.names[m.next] = name
		m.next++
	}
	return v.idx, fresh
}

// TestNameTableModel checks the table against a map under random puts and
// deletes, the table shrinking and growing through them.
func TestNameTableModel(t *testing.T) {
	pool := tableNames()
	rapid.Check(t, func(rt *rapid.T) {
		m := newTableModel()
		want := map[string]uint32{}
		steps := rapid.IntRange(1, 400).Draw(rt, "steps")
		for range steps {
			name := rapid.SampledFrom(pool).Draw(rt, "name")
			if rapid.IntRange(0, 2).Draw(rt, "op") > 0 {
				idx, fresh := m.put(name)
				old, had := want[name]
				if fresh == had || (had && idx != old) {
					rt.Fatalf("put(%q) = %d, %v; want fresh %v, index %d", name, idx, fresh, !had, old)
				}
				want[name] = idx
			} else {
				_, had := want[name]
				if got := m.tab.del(name); got != had {
					rt.Fatalf("del(%q) = %v, want %v", name, got, had)
				}
				delete(want, name)
			}
			if m.tab.len() != len(want) {
				rt.Fatalf("len = %d, want %d", m.tab.len(), len(want))
			}
			for _, n := range pool {
				v := m.tab.get(n)
				idx, ok := want[n]
				if (v != nil) != ok || (ok && v.idx != idx) {
					rt.Fatalf("get(%q) = %v, want %d, %v", n, v, idx, ok)
				}
			}
		}
		if len(m.tab.slots) > 8 && m.tab.n*8 < len(m.tab.slots) {
			rt.Fatalf("%d names in %d slots: the table did not shrink", m.tab.n, len(m.tab.slots))
		}
	})
}

// TestNameTableHashCollision puts names whose control bytes and 32-bit
// hashes are equal, so that the table must tell them apart by their bytes,
// and deletes them in both orders.
func TestNameTableHashCollision(t *testing.T) {
	m := newTableModel()
	seen := map[uint64]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		name := "collide-" + strconv.Itoa(i)
		if i%2 == 1 {
			name = strings.Repeat("L", inlineKey) + name // long names collide too
		}
		full := maphash.String(m.tab.seed, name)
		h := uint64(tagOf(full))<<32 | uint64(uint32(full))
		if other, ok := seen[h]; ok {
			a, b = other, name
		}
		seen[h] = name
	}
	for _, order := range [][2]string{{a, b}, {b, a}} {
		for _, n := range order {
			if _, fresh := m.put(n); !fresh {
				t.Fatalf("put(%q) found a name already there", n)
			}
		}
		if m.tab.get(a) == nil || m.tab.get(b) == nil || m.tab.get(a) == m.tab.get(b) {
			t.Fatalf("colliding names %q and %q are not told apart", a, b)
		}
		if !m.tab.del(order[0]) || m.tab.get(order[0]) != nil || m.tab.get(order[1]) == nil {
			t.Fatalf("deleting %q lost %q", order[0], order[1])
		}
		m.tab.del(order[1])
	}
}

// TestNameTableLarge grows a table to many names, deletes most of them and
// checks what is left, shrinking included.
func TestNameTableLarge(t *testing.T) {
	m := newTableModel()
	const n = 50_000
	for i := range n {
		m.put("user-" + strconv.Itoa(i))
	}
	for i := range n {
		if i%10 != 0 && !m.tab.del("user-"+strconv.Itoa(i)) {
			t.Fatalf("del(user-%d) found nothing", i)
		}
	}
	for i := range n {
		v := m.tab.get("user-" + strconv.Itoa(i))
		if (v != nil) != (i%10 == 0) || (v != nil && m.names[v.idx] != "user-"+strconv.Itoa(i)) {
			t.Fatalf("get(user-%d) = %v", i, v)
		}
	}
	if m.tab.len() != n/10 || len(m.tab.slots) > tableSize(2*n/10)*2 {
		t.Fatalf("%d names in %d slots", m.tab.len(), len(m.tab.slots))
	}
}

func TestNameTableSlotIsOneCacheLine(t *testing.T) {
	if size := unsafeSizeof[slot[userEntry]](); size != 64 {
		t.Fatalf("a user slot is %d bytes, want 64", size)
	}
	if size := unsafeSizeof[slot[permEntry]](); size != 128 {
		t.Fatalf("a permission slot is %d bytes, want 128", size)
	}
}

func unsafeSizeof[T any]() uintptr {
	var v T
	return unsafe.Sizeof(v)
}

// TestRestoreFitsTables restores a snapshot that names many permissions and
// users but grants or places few: the tables hold what is left, not what
// the snapshot named.
func TestRestoreFitsTables(t *testing.T) {
	s := &Snapshot{Tenant: KeyID("fit"), Seq: 1, Permissions: names("p", 1000), Users: names("u", 1000),
		Roles: []RoleSnapshot{{Name: "r", Permissions: []uint32{1, 500, 999}, Members: []uint32{3, 700}}}}
	tn, err := restoreTables(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tn.perms.slots), tableSize(3); got != want {
		t.Errorf("permission table: %d slots, want %d", got, want)
	}
	if got, want := len(tn.users.slots), tableSize(2); got != want {
		t.Errorf("user table: %d slots, want %d", got, want)
	}
	if !tn.userHasPermission("u700", "p999") || tn.userHasPermission("u4", "p999") {
		t.Error("the restored tenant answers wrongly")
	}
}

func TestPermissionSlotLayout(t *testing.T) {
	var s slot[permEntry]
	base := uintptr(unsafe.Pointer(&s))
	if off := uintptr(unsafe.Pointer(&s.val.words[1])) - base; off != 64 {
		t.Fatalf("a permission's second word of roles is at byte %d of its slot, want 64: the count and first word must share the name's cache line", off)
	}
	if off := uintptr(unsafe.Pointer(&s.val.words[permStash])) - base; off < 64 || unsafe.Sizeof(s) != 128 {
		t.Fatalf("the stash is at byte %d of a %d-byte slot, want in its second cache line: a check reads it early to bring that line in", off, unsafe.Sizeof(s))
	}
}
