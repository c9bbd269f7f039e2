package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"auth/persist/bolt"
)

// Exit statuses of the subcommands.
const (
	exitOK        = 0
	exitCorrupt   = 1 // the data does not hold
	exitCannotRun = 2 // bad arguments, the file is in use or unreadable, the server refused
)

// runCheck is "auth-server check": it verifies an embedded store's file
// offline and prints a summary; exit status 0 only if everything holds.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("check", stderr,
		"usage: auth-server check [-data DIR | -file FILE]",
		"Verifies the embedded store offline: the file's structure, every record's checksum, every tenant replayed.",
		"Exit status: 0 if everything holds, 1 if something does not, 2 if the check could not run.")
	data := fs.String("data", envOr(getenv, "AUTH_DATA", "./auth-data"), "data folder of the embedded store (env AUTH_DATA)")
	file := fs.String("file", "", "a store file to check instead of the data folder's, e.g. a backup")
	if !parseFlags(fs, args, stderr) {
		return exitCannotRun
	}
	path := *file
	if path == "" {
		path = filepath.Join(*data, bolt.FileName)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bolt.Check(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "auth-server check: %v\n", err)
		switch {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintln(stderr, "(no store there: give the data folder with -data, or a file with -file)")
		case errors.Is(err, bolt.ErrInUse):
			fmt.Fprintln(stderr, "(a running server has this store open: check a backup of it instead, taken with \"auth-server backup\")")
		}
		return exitCannotRun
	}
	printReport(stdout, r)
	if !r.OK() {
		fmt.Fprintf(stdout, "What to do: do not serve from this file. Restore the latest backup that \"auth-server check -file\" passes "+
			"(stop the server, copy the backup to %s, start it): see \"Backups and recovery\" in the README.\n", path)
		return exitCorrupt
	}
	return exitOK
}

func printReport(w io.Writer, r *bolt.Report) {
	if !r.OK() {
		n := len(r.Problems) + r.More
		fmt.Fprintf(w, "%s: CORRUPT (%d problem%s)\n", r.Path, n, plural(n))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
		if r.More > 0 {
			fmt.Fprintf(w, "  - and %d more\n", r.More)
		}
	} else {
		fmt.Fprintf(w, "%s: ok\n", r.Path)
	}
	if r.File.PageSize == 0 {
		return // the structure did not hold: nothing else was read
	}
	fmt.Fprintf(w, "  file      %s, pages of %d bytes, %d in use (%d reached), transaction %d\n",
		size(r.File.Size), r.File.PageSize, r.File.InUse, r.File.Reached, r.File.TxID)
	checksums := "checksummed records"
	if r.Format == 1 {
		checksums = "written before checksums: records checked by decoding; the server checksums them at its next start"
	}
	fmt.Fprintf(w, "  store     format %d (%s), epoch %s\n", r.Format, checksums, orNone(r.Epoch))
	fmt.Fprintf(w, "  contents  %d tenant%s, %d event%s, %d snapshot%s", r.Tenants, plural(r.Tenants), r.Events, plural(r.Events), r.Snapshots, plural(r.Snapshots))
	if r.OK() {
		fmt.Fprint(w, ": every record holds, every tenant replayed")
	}
	fmt.Fprintln(w)
	switch {
	case r.Backup:
		fmt.Fprintln(w, "  kind      a backup: a server started on it takes a new epoch")
	case r.Open:
		fmt.Fprintln(w, "  last stop not clean (the server was killed or the machine stopped; the server checks the file at its next start)")
	default:
		fmt.Fprintln(w, "  last stop clean")
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orNone(s string) string {
	if s == "" {
		return "(none yet)"
	}
	return s
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
