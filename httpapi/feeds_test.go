package httpapi

import (
	"errors"
	"testing"

	"auth/engine"
)

func events(from, to uint64, changes int) []engine.Event {
	var evs []engine.Event
	for s := from; s <= to; s++ {
		evs = append(evs, engine.Event{Seq: s, Changes: make([]engine.Change, changes)})
	}
	return evs
}

// TestFeedWindow: a feed keeps at most maxEventLimit events and
// windowWeight changes beyond its latest event; a watcher behind the window
// is told to read the store; a failed read is reported until one succeeds.
func TestFeedWindow(t *testing.T) {
	f := &feed{news: make(chan struct{})}
	news := f.news
	f.publish(events(1, 2000, 0), nil)
	select {
	case <-news:
	default:
		t.Fatal("publishing did not tell the watchers")
	}
	if len(f.window) != maxEventLimit || f.base != 1000 || f.head != 2000 {
		t.Fatalf("window of %d events (%d, %d], want %d events (1000, 2000]", len(f.window), f.base, f.head, maxEventLimit)
	}
	if _, covered, _, _ := f.since(999, 10); covered {
		t.Fatal("since(999) is covered by a window from 1000")
	}
	evs, covered, _, _ := f.since(1500, 10)
	if !covered || len(evs) != 10 || evs[0].Seq != 1501 || evs[9].Seq != 1510 {
		t.Fatalf("since(1500, 10) = %d events from %v (covered %v)", len(evs), evs, covered)
	}
	if evs, covered, _, _ := f.since(2000, 10); !covered || len(evs) != 0 {
		t.Fatalf("since(head) = %d events, covered %v", len(evs), covered)
	}
	// A batch heavier than the window stays alone, while it is the latest.
	f.publish(events(2001, 2001, 3*windowWeight), nil)
	if len(f.window) != 1 || f.base != 2000 || f.head != 2001 {
		t.Fatalf("after a heavy batch: %d events (%d, %d]", len(f.window), f.base, f.head)
	}
	f.publish(events(2002, 2003, 1), nil)
	if len(f.window) != 2 || f.base != 2001 || f.weight > windowWeight {
		t.Fatalf("after two light events: %d events from %d, weight %d", len(f.window), f.base, f.weight)
	}
	fail := errors.New("store down")
	f.publish(nil, fail)
	if _, _, _, err := f.since(2003, 10); !errors.Is(err, fail) {
		t.Fatalf("since after a failed read: %v", err)
	}
	f.publish(nil, nil)
	if _, _, _, err := f.since(2003, 10); err != nil {
		t.Fatalf("since after a caught-up read: %v", err)
	}
}
