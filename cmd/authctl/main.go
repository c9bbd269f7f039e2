// Command authctl administers an auth-server tenant from the shell.
//
//	authctl [-url URL] [-json] [-timeout D] [-min-seq N] <command> [args]
//
// The tenant's key is read from the environment variable AUTH_KEY, never
// from a flag or an argument, so that it stays out of shell history and
// out of the process list. The server's URL is -url, else AUTH_URL, else
// http://localhost:4000.
//
// Commands:
//
//	role add|del|has <role>
//	role list
//	perm add|del|has <role> <permission>
//	perm list <role>
//	member add|del|has <role> <user>
//	member list <role>
//	user roles <user>
//	user perms <user>
//	can <user> <permission>
//	which-roles <permission>
//	which-users <permission>
//	check                    lines "user permission" from stdin (tab-separated if names hold spaces)
//	import [file|-]          JSON lines, as export writes them (default: stdin)
//	export [file|-]          JSON lines (default: stdout)
//	events [-after N] [-limit N] [-wait D]
//	watch [-after N] [-n N]
//	status
//	ping
//
// Output is for humans; with -json it is JSON (one object, or for events
// and watch one event a line).
//
// Exit status: 0 on success and for a yes (has, can, check with every
// check allowed); 1 for a no (has, can, check with a check denied) and for
// a grant or membership not made because its role does not exist; 2 on an
// error (bad usage, a refused request, an unreachable server: for a write,
// nothing changed); 3 for a write whose outcome is unknown (it may have
// been made: read before writing again).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"auth/client"
)

const (
	exitOK    = 0
	exitNo    = 1
	exitError = 2
	// exitUnknown: a write whose outcome is unknown (it may have been
	// made).
	exitUnknown = 3
)

const defaultURL = "http://localhost:4000"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: authctl [-url URL] [-json] [-timeout D] [-min-seq N] <command> [args]

The key is read from AUTH_KEY (never from a flag); the URL from -url, else
AUTH_URL, else ` + defaultURL + `.

commands:
  role add|del|has <role>
  role list
  perm add|del|has <role> <permission>
  perm list <role>
  member add|del|has <role> <user>
  member list <role>
  user roles|perms <user>
  can <user> <permission>          exit 0 if allowed, 1 if not
  which-roles <permission>
  which-users <permission>
  check                            lines "user permission" on stdin
  import [file|-]                  JSON lines (default: stdin)
  export [file|-]                  JSON lines (default: stdout)
  events [-after N] [-limit N] [-wait D]
  watch [-after N] [-n N]
  status
  ping

flags:
`

// cli is one invocation.
type cli struct {
	ctx            context.Context
	c              *client.Client
	json           bool
	read           []client.ReadOption
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is bad usage: a message and the usage text.
type usageError string

func (e usageError) Error() string { return string(e) }

// run runs authctl with args (without the program name) and returns its
// exit status. getenv reads the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	baseURL := getenv("AUTH_URL")
	if baseURL == "" {
		baseURL = defaultURL
	}
	fs.StringVar(&baseURL, "url", baseURL, "the server's URL (env AUTH_URL)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", client.DefaultTimeout, "bound of each request (not of watch, import, export)")
	minSeq := fs.Uint64("min-seq", 0, "read from a state at least this recent (the seq of an earlier write)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	key := getenv("AUTH_KEY")
	if key == "" && cmd != "status" && cmd != "ping" && cmd != "help" {
		fmt.Fprintln(stderr, "authctl: AUTH_KEY is not set: export the tenant's key as AUTH_KEY (it is never taken from a flag)")
		return exitError
	}
	x := &cli{
		ctx:    ctx,
		c:      client.New(baseURL, key, client.WithTimeout(*timeout), client.WithUserAgent("authctl/1")),
		json:   *asJSON,
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
	}
	defer x.c.CloseIdleConnections()
	if *minSeq > 0 {
		x.read = []client.ReadOption{client.MinSeq(*minSeq)}
	}
	code, err := x.dispatch(cmd, rest)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "authctl: %s\n\n", ue)
		fs.Usage()
		return exitError
	case errors.Is(err, client.ErrOutcomeUnknown):
		var ce *client.Error
		if errors.As(err, &ce) && ce.Seq > 0 {
			fmt.Fprintf(stderr, "authctl: outcome unknown: the write was made at seq %d, but its answer is not known; read with -min-seq %d to see it: %v\n", ce.Seq, ce.Seq, err)
		} else {
			fmt.Fprintln(stderr, "authctl: outcome unknown: the write may or may not have been made; read before writing again:", err)
		}
		return exitUnknown
	case errors.Is(err, client.ErrNotApplied):
		fmt.Fprintln(stderr, "authctl: not applied (nothing changed):", err)
		return exitError
	case err != nil:
		fmt.Fprintln(stderr, "authctl:", err)
		return exitError
	}
	return code
}

func (x *cli) dispatch(cmd string, args []string) (int, error) {
	switch cmd {
	case "help":
		fmt.Fprint(x.stderr, strings.TrimSuffix(usage, "flags:\n"))
		return exitOK, nil
	case "role":
		return x.role(args)
	case "perm":
		return x.perm(args)
	case "member":
		return x.member(args)
	case "user":
		sub, names, err := subcommand(args, map[string]int{"roles": 1, "perms": 1})
		if err != nil {
			return 0, err
		}
		if sub == "roles" {
			return x.list(x.c.UserRoles(x.ctx, names[0], x.read...))
		}
		return x.list(x.c.UserPermissions(x.ctx, names[0], x.read...))
	case "can":
		if len(args) != 2 {
			return 0, usageError("can <user> <permission>")
		}
		return x.answer(x.c.UserHasPermission(x.ctx, args[0], args[1], x.read...))
	case "which-roles", "which-users":
		if len(args) != 1 {
			return 0, usageError(cmd + " <permission>")
		}
		if cmd == "which-roles" {
			return x.list(x.c.WhichRolesCan(x.ctx, args[0], x.read...))
		}
		return x.list(x.c.WhichUsersCan(x.ctx, args[0], x.read...))
	case "check":
		if len(args) != 0 {
			return 0, usageError("check reads its checks from stdin")
		}
		return x.check()
	case "import":
		return x.importFacts(args)
	case "export":
		return x.export(args)
	case "events":
		return x.events(args)
	case "watch":
		return x.watch(args)
	case "status":
		if len(args) != 0 {
			return 0, usageError("status takes no arguments")
		}
		return x.status()
	case "ping":
		if len(args) != 0 {
			return 0, usageError("ping takes no arguments")
		}
		if err := x.c.Ping(x.ctx); err != nil {
			return 0, err
		}
		return x.print(map[string]string{"message": "PONG"}, "PONG")
	}
	return 0, usageError(fmt.Sprintf("unknown command %q", cmd))
}

// subcommand splits args into a subcommand of subs and its arguments,
// checking their number.
func subcommand(args []string, subs map[string]int) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageError("missing subcommand")
	}
	n, ok := subs[args[0]]
	if !ok {
		return "", nil, usageError(fmt.Sprintf("unknown subcommand %q", args[0]))
	}
	if len(args)-1 != n {
		return "", nil, usageError(fmt.Sprintf("%s takes %d argument(s)", args[0], n))
	}
	return args[0], args[1:], nil
}

func (x *cli) role(args []string) (int, error) {
	sub, n, err := subcommand(args, map[string]int{"add": 1, "del": 1, "has": 1, "list": 0})
	if err != nil {
		return 0, fmt.Errorf("role: %w", err)
	}
	switch sub {
	case "add":
		w, err := x.c.AddRole(x.ctx, n[0])
		return x.write(w, err, exitOK, "role %s: created", "role %s: already exists", n[0])
	case "del":
		w, err := x.c.DelRole(x.ctx, n[0])
		return x.write(w, err, exitOK, "role %s: deleted, with its grants and memberships", "role %s: did not exist", n[0])
	case "has":
		return x.answer(x.c.HasRole(x.ctx, n[0], x.read...))
	}
	return x.list(x.c.Roles(x.ctx, x.read...))
}

func (x *cli) perm(args []string) (int, error) {
	sub, n, err := subcommand(args, map[string]int{"add": 2, "del": 2, "has": 2, "list": 1})
	if err != nil {
		return 0, fmt.Errorf("perm: %w", err)
	}
	switch sub {
	case "add":
		w, err := x.c.AddPermission(x.ctx, n[0], n[1])
		return x.write(w, err, exitNo, "role %s: granted %s", "role %s does not exist: %s not granted", n[0], n[1])
	case "del":
		w, err := x.c.DelPermission(x.ctx, n[0], n[1])
		return x.write(w, err, exitOK, "role %s: %s revoked", "role %s: %s revoked", n[0], n[1])
	case "has":
		return x.answer(x.c.HasPermission(x.ctx, n[0], n[1], x.read...))
	}
	return x.list(x.c.RolePermissions(x.ctx, n[0], x.read...))
}

func (x *cli) member(args []string) (int, error) {
	sub, n, err := subcommand(args, map[string]int{"add": 2, "del": 2, "has": 2, "list": 1})
	if err != nil {
		return 0, fmt.Errorf("member: %w", err)
	}
	switch sub {
	case "add":
		w, err := x.c.AddMembership(x.ctx, n[1], n[0])
		return x.write(w, err, exitNo, "role %s: %s added", "role %s does not exist: %s not added", n[0], n[1])
	case "del":
		w, err := x.c.DelMembership(x.ctx, n[1], n[0])
		return x.write(w, err, exitOK, "role %s: %s removed", "role %s: %s removed", n[0], n[1])
	case "has":
		return x.answer(x.c.HasMembership(x.ctx, n[1], n[0], x.read...))
	}
	return x.list(x.c.RoleMembers(x.ctx, n[0], x.read...))
}

// print prints v as JSON, or human as text.
func (x *cli) print(v any, human string) (int, error) {
	if x.json {
		return exitOK, x.printJSON(v)
	}
	_, err := fmt.Fprintln(x.stdout, human)
	return exitOK, err
}

func (x *cli) printJSON(v any) error {
	enc := json.NewEncoder(x.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// write prints a write's answer; a false answer exits with falseCode.
func (x *cli) write(w client.Write, err error, falseCode int, yes, no string, names ...any) (int, error) {
	if err != nil {
		return 0, err
	}
	msg, code := yes, exitOK
	if !w.Result {
		msg, code = no, falseCode
	}
	if _, err := x.print(w, fmt.Sprintf(msg, quoteAll(names)...)+fmt.Sprintf(" (seq %d)", w.Seq)); err != nil {
		return 0, err
	}
	return code, nil
}

// answer prints yes or no and exits 0 or 1.
func (x *cli) answer(a client.Answer, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	human := "no"
	if a.Result {
		human = "yes"
	}
	if _, err := x.print(a, human); err != nil {
		return 0, err
	}
	if !a.Result {
		return exitNo, nil
	}
	return exitOK, nil
}

// list prints names one a line.
func (x *cli) list(l client.List, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	if x.json {
		return exitOK, x.printJSON(l)
	}
	w := bufio.NewWriter(x.stdout)
	for _, n := range l.Names {
		w.WriteString(n)
		w.WriteByte('\n')
	}
	return exitOK, w.Flush()
}

// quoteAll quotes names that would be ambiguous in a message.
func quoteAll(names []any) []any {
	out := make([]any, len(names))
	for i, n := range names {
		s := n.(string)
		if s == "" || strings.ContainsAny(s, " \t\"'\\") {
			out[i] = fmt.Sprintf("%q", s)
		} else {
			out[i] = s
		}
	}
	return out
}

type checked struct {
	User       string `json:"user"`
	Permission string `json:"permission"`
	Result     bool   `json:"result"`
}

// check reads "user permission" lines from stdin and answers them in
// batches of client.MaxChecks, each from a state no older than the last.
func (x *cli) check() (int, error) {
	var checks []client.Check
	sc := bufio.NewScanner(x.stdin)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		var f []string
		if strings.Contains(text, "\t") {
			f = strings.Split(text, "\t")
		} else {
			f = strings.Fields(text)
		}
		if len(f) != 2 {
			return 0, fmt.Errorf("check: line %d: want \"user permission\" (tab-separated if a name holds a space)", line)
		}
		checks = append(checks, client.Check{User: f[0], Permission: f[1]})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("check: reading stdin: %w", err)
	}
	out := make([]checked, 0, len(checks))
	opts := x.read
	var seq uint64
	for start := 0; start < len(checks); start += client.MaxChecks {
		batch := checks[start:min(start+client.MaxChecks, len(checks))]
		res, err := x.c.Check(x.ctx, batch, opts...)
		if err != nil {
			return 0, err
		}
		for i, ch := range batch {
			out = append(out, checked{ch.User, ch.Permission, res.Results[i]})
		}
		seq = res.Seq
		opts = []client.ReadOption{client.MinSeq(seq)}
	}
	code := exitOK
	for _, c := range out {
		if !c.Result {
			code = exitNo
		}
	}
	if x.json {
		return code, x.printJSON(struct {
			Checks []checked `json:"checks"`
			Seq    uint64    `json:"seq"`
		}{out, seq})
	}
	w := bufio.NewWriter(x.stdout)
	for _, c := range out {
		answer := "no"
		if c.Result {
			answer = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.User, c.Permission, answer)
	}
	return code, w.Flush()
}

func (x *cli) importFacts(args []string) (int, error) {
	if len(args) > 1 {
		return 0, usageError("import [file|-]")
	}
	var r io.Reader = x.stdin
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return 0, err
		}
		defer f.Close()
		r = f
	}
	im, err := x.c.Import(x.ctx, r)
	if err != nil {
		return 0, err
	}
	return x.print(im, fmt.Sprintf("imported %d roles, %d grants, %d memberships (seq %d)", im.Roles, im.Permissions, im.Memberships, im.Seq))
}

func (x *cli) export(args []string) (int, error) {
	if len(args) > 1 {
		return 0, usageError("export [file|-]")
	}
	if len(args) == 0 || args[0] == "-" {
		_, err := x.c.Export(x.ctx, x.stdout, x.read...)
		return exitOK, err
	}
	// Write beside the file, then rename: a failed export leaves no
	// truncated file behind.
	path := args[0]
	tmp, err := os.CreateTemp(dirOf(path), ".authctl-export-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	seq, err := x.c.Export(x.ctx, tmp, x.read...)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, err
	}
	return x.print(map[string]uint64{"seq": seq}, fmt.Sprintf("exported to %s (seq %d)", path, seq))
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// printEvent prints one event: a line of text, or of JSON.
func (x *cli) printEvent(ev client.Event) error {
	if x.json {
		return x.printJSON(ev)
	}
	_, err := fmt.Fprintf(x.stdout, "%d\t%s\t%s\n", ev.Seq, ev.Time.UTC().Format(time.RFC3339Nano), ev.Change.String())
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
	if err := fs.Parse(args); err != nil {
		return 0, usageError("events [-after N] [-limit N] [-wait D]")
	}
	if fs.NArg() != 0 || *limit < 0 {
		return 0, usageError("events [-after N] [-limit N] [-wait D]")
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
		return 0, usageError("watch [-after N] [-n N]")
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

func (x *cli) status() (int, error) {
	st, err := x.c.Status(x.ctx)
	if err != nil {
		return 0, err
	}
	human := fmt.Sprintf("store:   %s\nbus:     %s\ntenants: %d", st.Store, st.Bus, st.Tenants)
	if st.Seq != nil {
		human += fmt.Sprintf("\nseq:     %d", *st.Seq)
	}
	return x.print(st, human)
}
