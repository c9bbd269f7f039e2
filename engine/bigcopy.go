package engine

import (
	"runtime"
	"unsafe"
)

// A large change is built aside from a copy of the tenant's tables
// (state.go), and its biggest arrays are hundreds of megabytes for a
// tenant of millions of users. The runtime copies an array (copy, append,
// slices.Clone) in one step that cannot be preempted, and a collection
// that starts meanwhile stops every other goroutine of the process until
// that step ends: checks of every tenant stopped for as long as the copy
// took, 0.4 to 0.9 s for a 2M-user tenant. cloneBig and copyBig copy in
// steps of copyStep bytes instead, and yield between them, so that a
// collection stops the world within a step's time. The yield must be
// explicit: the runtime's asynchronous preemption only stops a goroutine
// in Go code, and a loop of copies spends nearly all its time in the
// runtime's copy routine, where the signal finds it and gives up.
// (Allocation is not the problem: the runtime zeroes a large allocation
// in preemptible steps of its own.)

// A change built aside yields the processor every paceEvery steps too
// (tables.pace), about every millisecond: on a machine of few cores the
// scheduler would otherwise let it run for its whole time slice (10 ms)
// while checks, which take microseconds, wait behind it.
const paceEvery = 4096

// pace yields the processor at every paceEvery-th step i of a change to
// tables built aside; never to published tables, whose writer holds the
// check's stripes.
func (t *tables) pace(i int) {
	if t.aside {
		pace(i)
	}
}

// pace yields the processor at every paceEvery-th step i.
func pace(i int) {
	if i%paceEvery == paceEvery-1 {
		runtime.Gosched()
	}
}

// copyStep is the most bytes copied in one step: tens of microseconds,
// against a fraction of a microsecond for the yield.
const copyStep = 256 << 10

// cloneBig is slices.Clone, copying in preemptible steps: nil stays nil.
func cloneBig[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	c := make(S, len(s))
	copyBig(c, s)
	return c
}

// copyBig is copy, in preemptible steps.
func copyBig[E any](dst, src []E) {
	var e E
	step := max(1, copyStep/max(1, int(unsafe.Sizeof(e))))
	n := min(len(dst), len(src))
	for i := 0; i < n; i += step {
		j := min(i+step, n)
		copy(dst[i:j], src[i:j])
		if j < n {
			runtime.Gosched()
		}
	}
}

// bigRoom is how much room growBig keeps ahead of a large buffer.
const bigRoom = 1 << 20

// growBig returns b with at least bigRoom bytes of room if it is past
// bigRoom bytes, doubling it as append would but copying in preemptible
// steps (an event of 2M changes encodes to tens of megabytes); a smaller
// b is left to append.
func growBig(b []byte) []byte {
	if len(b) < bigRoom || cap(b)-len(b) >= bigRoom {
		return b
	}
	n := make([]byte, len(b), 2*cap(b))
	copyBig(n, b)
	return n
}
