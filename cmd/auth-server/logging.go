package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// Log formats of -log-format.
const (
	logText = "text" // logfmt-style key=value lines, for people
	logJSON = "json" // one JSON object a line, for log pipelines
)

func validLogFormat(f string) error {
	if f != logText && f != logJSON {
		return fmt.Errorf("-log-format %q: want %q or %q", f, logText, logJSON)
	}
	return nil
}

// newLogger returns the process's logger. Everything the server logs goes
// through it, the access log included (httpapi logs requests through the
// logger it is given), so one format holds for every line.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(uniqueKeys{h})
}

// uniqueKeys renames a record's attributes that bear the name of a field
// every record has (msg, time, level, source): "msg" becomes "detail",
// the others take the prefix "attr_". A JSON object with a key twice is
// refused by some log pipelines (Elasticsearch among them) and read as
// the last value by others; the HTTP server's error lines, for one, carry
// their text as an attribute "msg".
type uniqueKeys struct{ slog.Handler }

func (u uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	clash := false
	r.Attrs(func(a slog.Attr) bool {
		clash = reserved(a.Key)
		return !clash
	})
	if !clash {
		return u.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renamed(a))
		return true
	})
	return u.Handler.Handle(ctx, out)
}

func (u uniqueKeys) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = renamed(a)
	}
	return uniqueKeys{u.Handler.WithAttrs(out)}
}

// WithGroup needs no renaming past it: a group's keys are its own.
func (u uniqueKeys) WithGroup(name string) slog.Handler { return u.Handler.WithGroup(name) }

func reserved(key string) bool {
	return key == slog.MessageKey || key == slog.TimeKey || key == slog.LevelKey || key == slog.SourceKey
}

func renamed(a slog.Attr) slog.Attr {
	switch {
	case a.Key == slog.MessageKey:
		a.Key = "detail"
	case reserved(a.Key):
		a.Key = "attr_" + a.Key
	}
	return a
}
