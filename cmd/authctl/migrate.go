package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"auth/migrate"
)

// migrateCommands move data in from elsewhere. The work is package
// migrate's; this is its command line.
var migrateCommands = []command{
	{
		words:   "migrate-original",
		args:    "-from URI [flags]",
		nargs:   -1,
		help:    "move in an auth 0.5.3 MongoDB database, a tenant per key, verified; no AUTH_KEY (-h: flags)",
		keyless: true,
		run:     (*cli).migrateOriginal,
	},
}

func (x *cli) migrateOriginal(args []string) (int, error) {
	cfg := migrate.DefaultConfig("", x.url)
	fs := flag.NewFlagSet("migrate-original", flag.ContinueOnError)
	fs.SetOutput(x.stderr)
	fs.StringVar(&cfg.Source, "from", "", "the original's MongoDB, mongodb://host:port/ (read only)")
	fs.StringVar(&cfg.Database, "db", cfg.Database, "the original's database")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "print what would be imported, write nothing")
	fs.BoolVar(&cfg.SkipInvalid, "skip-invalid", false, "drop the facts holding names the server refuses, not their whole tenant")
	fs.BoolVar(&cfg.RestoreHiddenGrants, "restore-hidden-grants", false, "import the grants the original's bug hid, to the group's key")
	fs.BoolVar(&cfg.Verify, "verify", cfg.Verify, "compare every tenant on the server with the original after importing")
	fs.IntVar(&cfg.Checks, "checks", cfg.Checks, "checks in each tenant's verification sample")
	fs.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "tenants read, written or verified at once")
	fs.IntVar(&cfg.Imports, "imports", cfg.Imports, "imports sent at once (the server takes -max-imports at once, 1 by default; a busy server is waited out)")
	fs.DurationVar(&cfg.ProgressEvery, "progress", cfg.ProgressEvery, "print a progress line on stderr this often (0: never)")
	fs.Usage = func() {
		fmt.Fprint(x.stderr, `usage: authctl [-url URL] [-timeout D] [-json] migrate-original -from URI [flags]

Reads the original's auth_group, auth_membership and auth_permission, and
writes each key's tenant to the server as one import, then verifies it. A
rerun is safe: it leaves alone a tenant the server already holds exactly,
and does not write one it holds otherwise. No key is printed: tenants are
named by a fingerprint, the first hex digits of their id in the server (a
SHA-256 of the key), as the server's logs name them.

Exit status: 0 if every tenant was imported or already there, and
verified; 2 if any was not, or differs; 3 if any import's outcome is
unknown (run again to finish).

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK, nil
	} else if err != nil || fs.NArg() != 0 {
		return 0, errArgs
	}
	if cfg.Source == "" {
		return 0, usageError("migrate-original needs -from: the original's MongoDB, mongodb://host:port/")
	}
	cfg.Timeout = x.timeout
	cfg.UserAgent = "authctl/1 (migrate-original)"
	if cfg.ProgressEvery > 0 {
		cfg.Progress = x.stderr
	}
	if err := cfg.Validate(); err != nil {
		return 0, usageError(strings.TrimPrefix(err.Error(), "migrate: bad configuration: "))
	}
	rep, err := migrate.Run(x.ctx, cfg)
	if err != nil {
		return 0, err
	}
	if x.json {
		err = x.printJSON(rep)
	} else {
		err = printReport(x.stdout, rep)
	}
	switch {
	case err != nil:
		return 0, err
	case rep.Unknown():
		return exitUnknown, nil
	case !rep.OK():
		return exitError, nil
	}
	return exitOK, nil
}

// maxListed is how many hidden grants or refused names a tenant's lines
// list; -json lists all.
const maxListed = 5

// printReport writes the report for humans: a line a tenant, its details
// indented below it, and the summary.
func printReport(out io.Writer, rep *migrate.Report) error {
	w := bufio.NewWriter(out)
	for _, r := range rep.Tenants {
		fmt.Fprintf(w, "tenant %s: %s; %s\n", r.Name, outcome(r), counts(r.Roles, r.Grants, r.Memberships))
		for _, line := range details(r) {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "summary: %s: %d imported, %d unchanged, %d not applied, %d unknown",
		plural(s.Tenants, "tenant"), s.Outcomes[migrate.Imported], s.Outcomes[migrate.Unchanged], s.Outcomes[migrate.NotApplied], s.Outcomes[migrate.Unknown])
	if n := s.Outcomes[migrate.DryRun]; n > 0 {
		fmt.Fprintf(w, ", %d to import (dry run: nothing written)", n)
	}
	fmt.Fprintf(w, "; %s; skipped: %s, %s, %s, %s, %s; %s (%d restored); %s (%s refused)",
		counts(s.Roles, s.Grants, s.Memberships),
		plural(s.DanglingRefs, "dangling reference"), plural(s.DuplicateRefs, "duplicate reference"),
		plural(s.ForeignRefs, "reference to another key's role"), plural(s.DuplicateDocs, "duplicate document"),
		plural(sum(s.Malformed), "malformed document"),
		plural(s.HiddenGrants, "hidden grant"), s.Restored, plural(s.InvalidNames, "refused name"), plural(s.Refused, "tenant"))
	if s.Verified+s.Failed > 0 {
		fmt.Fprintf(w, "; verified %d, failed %d", s.Verified, s.Failed)
	}
	fmt.Fprintf(w, "; %s\n", timing(s))
	return w.Flush()
}

func outcome(r migrate.Result) string {
	var s string
	switch r.Outcome {
	case migrate.Imported:
		s = fmt.Sprintf("imported (seq %d)", r.Seq)
	case migrate.Unchanged:
		s = fmt.Sprintf("unchanged: already there (seq %d)", r.Seq)
	case migrate.DryRun:
		s = "to import"
	case migrate.NotApplied:
		s = "not applied (nothing written)"
	case migrate.Unknown:
		s = "outcome unknown (the import may have been made)"
	default:
		s = string(r.Outcome)
	}
	if v := r.Verification; v != nil {
		switch {
		case v.Error != "":
			s += ", not verified"
		case v.Differences > 0:
			s += fmt.Sprintf(", %s from the original", plural(v.Differences, "difference"))
		default:
			s += fmt.Sprintf(", verified (%s, %s)", plural(v.Roles, "role"), plural(v.Checks, "check"))
		}
	}
	return s
}

// details are the lines that say what was found and what went wrong.
func details(r migrate.Result) []string {
	var out []string
	if r.Refused != "" {
		out = append(out, "refused: "+r.Refused)
	}
	if r.Error != "" {
		out = append(out, "error: "+r.Error)
	}
	var skipped []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.DanglingRefs, "dangling reference"}, {r.DuplicateRefs, "duplicate reference"},
		{r.ForeignRefs, "reference to another key's role"}, {r.DuplicateDocs, "duplicate document"},
		{r.Malformed, "malformed document"},
	} {
		if c.n > 0 {
			skipped = append(skipped, plural(c.n, c.what))
		}
	}
	if len(skipped) > 0 {
		out = append(out, "skipped: "+strings.Join(skipped, ", "))
	}
	if n := len(r.HiddenGrants); n > 0 {
		what := "not imported (-restore-hidden-grants imports them)"
		if r.Restored {
			what = "restored"
		}
		var l []string
		for _, g := range r.HiddenGrants[:min(n, maxListed)] {
			l = append(l, fmt.Sprintf("%q may %q", g.Role, g.Permission))
		}
		out = append(out, fmt.Sprintf("%s, %s: %s%s", plural(n, "hidden grant"), what, strings.Join(l, ", "), more(n)))
	}
	if n := len(r.Invalid); n > 0 {
		what := "their tenant is not imported (-skip-invalid drops just their facts)"
		if r.Refused == "" {
			what = "dropped with their facts"
		}
		var l []string
		for _, i := range r.Invalid[:min(n, maxListed)] {
			l = append(l, fmt.Sprintf("%s %q (%s)", i.Kind, i.Name, i.Reason))
		}
		out = append(out, fmt.Sprintf("%s the server refuses, %s: %s%s", plural(n, "name"), what, strings.Join(l, ", "), more(n)))
	}
	if v := r.Verification; v != nil {
		if v.Error != "" {
			out = append(out, "verification failed: "+v.Error)
		}
		for _, e := range v.Examples {
			out = append(out, "difference: "+e)
		}
		if n := v.Differences - len(v.Examples); n > 0 {
			out = append(out, fmt.Sprintf("and %s more", plural(n, "difference")))
		}
	}
	return out
}

func more(n int) string {
	if n > maxListed {
		return fmt.Sprintf(" and %d more (-json lists them all)", n-maxListed)
	}
	return ""
}

func counts(roles, grants, members int) string {
	return fmt.Sprintf("%s, %s, %s", plural(roles, "role"), plural(grants, "grant"), plural(members, "membership"))
}

func timing(s migrate.Summary) string {
	d := func(v migrate.Seconds) string { return time.Duration(v).Round(time.Millisecond).String() }
	return fmt.Sprintf("read %s, write %s, verify %s, total %s", d(s.Read), d(s.Write), d(s.Verify), d(s.Total))
}

// plural is "1 role", "2 roles": what with an s after its first word
// when n is not 1 ("2 references to another key's role").
func plural(n int, what string) string {
	if n != 1 {
		first, rest, ok := strings.Cut(what, " ")
		switch {
		case !ok:
			what = first + "s"
		case first == "reference":
			what = "references " + rest
		default:
			what += "s"
		}
	}
	return fmt.Sprintf("%d %s", n, what)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
