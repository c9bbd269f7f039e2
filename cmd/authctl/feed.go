package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"auth/client"
)

// feedCommands read the tenant's event feed: a page of it, or as it
// happens.
var feedCommands = []command{
	{words: "events", args: "[-after N] [-limit N] [-wait D]", nargs: -1, help: "the events after a seq (-wait: wait for one)", run: (*cli).events},
	{words: "watch", args: "[-after N] [-n N]", nargs: -1, help: "the events as they happen, until interrupted", run: (*cli).watch},
}

// printEvent prints one event: a line of text, or of JSON.
func (x *cli) printEvent(ev client.Event) error {
	if x.json {
		return x.printJSON(ev)
	}
	by := ev.Key // the key that made it, for the audit trail
	if by == "" {
		by = "-" // made before keys had ids
	}
	_, err := fmt.Fprintf(x.stdout, "%d\t%s\t%s\t%s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339Nano), by, ev.Change.String())
	if err == nil && ev.Op == client.OpBatch {
		for _, c := range ev.Changes {
			if _, err = fmt.Fprintf(x.stdout, "\t\t  %s\n", c.String()); err != nil {
				break
			}
		}
	}
	return err
}

// events prints the events after -after: all of them, or the first
// -limit. With -wait and none yet, it waits that long for one.
func (x *cli) events(args []string) (int, error) {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(x.stderr)
	after := fs.Uint64("after", 0, "print the events after this seq")
	limit := fs.Int("limit", 0, "print at most this many events (0: all)")
	wait := fs.Duration("wait", 0, "with no event yet, wait this long for one")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *limit < 0 {
		return 0, errArgs
	}
	printed := 0
	for *limit == 0 || printed < *limit {
		q := client.EventsQuery{After: *after, Limit: 1000}
		if *limit > 0 {
			q.Limit = min(1000, *limit-printed)
		}
		if printed == 0 {
			q.Wait = *wait
		}
		page, err := x.c.Events(x.ctx, q)
		if err != nil {
			return 0, err
		}
		for _, ev := range page.Events {
			if err := x.printEvent(ev); err != nil {
				return 0, err
			}
			*after = ev.Seq
			printed++
		}
		if len(page.Events) < q.Limit {
			break
		}
	}
	return exitOK, nil
}

// watch prints the events after -after as they happen, until interrupted
// or, with -n, after that many.
func (x *cli) watch(args []string) (int, error) {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(x.stderr)
	after := fs.Uint64("after", 0, "start after this seq (0: from the first event)")
	n := fs.Int("n", 0, "stop after this many events (0: never)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *n < 0 {
		return 0, errArgs
	}
	errDone := errors.New("done")
	seen := 0
	err := x.c.Watch(x.ctx, *after, func(ev client.Event) error {
		if err := x.printEvent(ev); err != nil {
			return err
		}
		if seen++; *n > 0 && seen >= *n {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errDone):
		return exitOK, nil
	case x.ctx.Err() != nil && errors.Is(err, x.ctx.Err()):
		return exitOK, nil // interrupted: the way a watch ends
	}
	return 0, err
}
