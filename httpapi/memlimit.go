package httpapi

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// An import's memory is bounded with the runtime's soft memory limit
// (debug.SetMemoryLimit): while imports run, the limit is what the process
// held when the first of them began plus each one's budget, importFactor
// times the bytes of its body read so far (at least minImportBudget). The
// collector then runs as often as it must to stay within it, rather than
// let an import's garbage grow the heap to twice its live size, as the
// default pace (GOGC=100) would. The budget covers all that an import
// adds: its parsed changes, the store's binary form, the engine's new
// state (see import.go). The limit is soft: an import whose live data
// alone needs more than its budget (lines much shorter than those of
// memberships) still completes, with the collector at most half of the
// CPU. A limit set by the operator (GOMEMLIMIT) lower than this one is
// kept. Once the last import ends the limit goes back to what it was.
const (
	importFactor    = 3
	minImportBudget = 64 << 20
	// budgetStep is how many bytes of body are read between two updates
	// of the limit.
	budgetStep = 1 << 20
)

// importMem is the process's one: the memory limit is the runtime's.
var importMem importMemory

type importMemory struct {
	mu      sync.Mutex
	running int
	base    int64 // the process's memory when the first running import began
	budgets int64 // the running imports' budgets, summed
	saved   int64 // the limit before the first running import began
}

// importBudget is one import's share of the limit.
type importBudget struct {
	m      *importMemory
	budget int64
}

// begin counts an import in, with the smallest budget.
func (m *importMemory) begin() *importBudget {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == 0 {
		m.base = processMemory()
		m.saved = debug.SetMemoryLimit(-1)
	}
	m.running++
	b := &importBudget{m: m, budget: minImportBudget}
	m.budgets += b.budget
	m.apply()
	return b
}

// grow sets the budget for an import that has read n bytes of its body.
func (b *importBudget) grow(n int64) {
	want := max(minImportBudget, importFactor*n)
	if want == b.budget {
		return
	}
	b.m.mu.Lock()
	b.m.budgets += want - b.budget
	b.budget = want
	b.m.apply()
	b.m.mu.Unlock()
}

// end counts the import out.
func (b *importBudget) end() {
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budgets -= b.budget
	m.running--
	if m.running == 0 {
		debug.SetMemoryLimit(m.saved)
		return
	}
	m.apply()
}

// apply sets the limit; m.mu must be held.
func (m *importMemory) apply() {
	debug.SetMemoryLimit(min(m.saved, m.base+m.budgets))
}

// processMemory is the memory the runtime counts against its limit: all
// it has mapped, less what it has given back to the operating system.
func processMemory() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}
