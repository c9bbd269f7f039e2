package liveheap

import "testing"

var held [][]byte

// TestBytesCountsWhatIsHeld: 64 MiB held shows in Bytes, and shows no
// more once let go.
func TestBytesCountsWhatIsHeld(t *testing.T) {
	before := Bytes()
	for range 64 {
		held = append(held, make([]byte, 1<<20))
	}
	with := Bytes()
	held = nil
	after := Bytes()
	if with < before+60<<20 {
		t.Fatalf("holding 64 MiB: %d bytes, from %d", with, before)
	}
	if after > with-60<<20 {
		t.Fatalf("after letting 64 MiB go: %d bytes, from %d", after, with)
	}
}
