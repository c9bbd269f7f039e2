package sse

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// event is an Event with its data as a string, to compare.
type event struct{ Type, ID, Data string }

func readAll(t *testing.T, stream string) ([]event, int, error) {
	t.Helper()
	lines := 0
	r := NewReader(strings.NewReader(stream), 16)
	r.Line = func() { lines++ }
	var got []event
	for {
		ev, err := r.Next()
		if err != nil {
			return got, lines, err
		}
		got = append(got, event{ev.Type, ev.ID, string(ev.Data)})
	}
}

func TestNext(t *testing.T) {
	for _, c := range []struct {
		name, stream string
		want         []event
		lines        int
	}{
		{"message", "id: 1\ndata: {\"seq\": 1}\n\n", []event{{"", "1", `{"seq": 1}`}}, 3},
		{"typed, CRLF", "event: heartbeat\r\ndata: {}\r\n\r\n", []event{{"heartbeat", "", "{}"}}, 3},
		{"data lines joined", "data: a\ndata:b\ndata: \n\n", []event{{"", "", "a\nb\n"}}, 4},
		{"empty data is an event", "event: reset\ndata\n\n", []event{{"reset", "", ""}}, 3},
		{"no data: nothing, type forgotten", "event: x\n\ndata: y\n\n", []event{{"", "", "y"}}, 4},
		{"comments are keep-alives", ": ping\n\n: ping\nid: e:7\ndata: z\n\n", []event{{"", "e:7", "z"}}, 6},
		{"the id carries over", "id: 3\ndata: a\n\ndata: b\n\n", []event{{"", "3", "a"}, {"", "3", "b"}}, 5},
		{"unknown fields ignored", "retry: 10\nfoo: bar\ndata: a\n\n", []event{{"", "", "a"}}, 4},
		{"a line longer than the buffer", "data: " + strings.Repeat("x", 100) + "\n\n", []event{{"", "", strings.Repeat("x", 100)}}, 2},
		{"an event cut short is not returned", "data: a\n\ndata: b\n", []event{{"", "", "a"}}, 3},
		{"a last line without its newline", "data: a\n\ndata: b", []event{{"", "", "a"}}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, lines, err := readAll(t, c.stream)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the stream's end: %v, want io.ErrUnexpectedEOF", err)
			}
			if diff := cmp.Diff(got, c.want); diff != "" {
				t.Errorf("events (-got +want):\n%s", diff)
			}
			if lines != c.lines {
				t.Errorf("Line called %d times, want %d", lines, c.lines)
			}
		})
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestNextReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(&errReader{"data: a\n\ndata: b\n", boom}, 16)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first event: %+v, %v", ev, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("after the read error: %v, want it", err)
	}
}

// TestEventID: a cursor is "EPOCH:SEQ", or the bare seq without an epoch.
func TestEventID(t *testing.T) {
	if got := EventID("", 42); got != "42" {
		t.Errorf(`EventID("", 42) = %q, want "42"`, got)
	}
	if got := EventID("65cc214741437ac3", 42); got != "65cc214741437ac3:42" {
		t.Errorf(`EventID("65cc214741437ac3", 42) = %q, want "65cc214741437ac3:42"`, got)
	}
}
