// Package sse reads a stream of server-sent events (the text/event-stream
// format of the HTML standard), as the API's event stream sends them: the
// fields event, id and data, comment lines (keep-alives), and events
// dispatched at a blank line.
package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// EventID is a cursor in the API's event stream as its ids and
// Last-Event-ID carry it: "EPOCH:SEQ", or "SEQ" for a store without an
// epoch.
func EventID(epoch string, seq uint64) string {
	if epoch != "" {
		return epoch + ":" + strconv.FormatUint(seq, 10)
	}
	return strconv.FormatUint(seq, 10)
}

// Event is one dispatched event.
type Event struct {
	// Type is the event field ("" for none: a message).
	Type string
	// ID is the last id field the stream has had, in this event or an
	// earlier one ("" for none), as a browser keeps it.
	ID string
	// Data is the event's data lines joined by "\n". It is valid until the
	// next call of Next.
	Data []byte
}

// Reader reads events from a stream.
type Reader struct {
	r *bufio.Reader
	// Line, if set, is called for every line read, comments included:
	// a keep-alive is a sign of life even when no event comes.
	Line func()

	typ, id string
	data    []byte
	has     bool // data has had a data field since the last dispatch
}

// NewReader reads r through a buffer of size bytes.
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, size)}
}

// Next returns the next event that has data; a blank line without any
// dispatches nothing, as the format says. The stream's end, between
// events or within one, is io.ErrUnexpectedEOF: an event stream never ends
// on its own, and an event cut short is never returned.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.r.ReadBytes('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if r.Line != nil {
			r.Line()
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			typ, has := r.typ, r.has
			r.typ, r.has = "", false
			if has {
				return Event{Type: typ, ID: r.id, Data: r.data}, nil
			}
			continue
		}
		if line[0] == ':' { // a comment: the keep-alive
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			r.typ = string(value)
		case "id":
			r.id = string(value)
		case "data":
			if r.has {
				r.data = append(r.data, '\n')
			} else {
				r.data, r.has = r.data[:0], true
			}
			r.data = append(r.data, value...)
		}
	}
}
