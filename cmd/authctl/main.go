// Command authctl administers an auth-server tenant from the shell.
//
//	authctl [-url URL] [-ca FILE] [-client-cert FILE -client-key FILE] [-json] [-timeout D] [-min-seq N] [-effective] <command> [args]
//
// The tenant's key is read from the environment variable AUTH_KEY, never
// from a flag or an argument, so that it stays out of shell history and
// out of the process list. The server's URL is -url, else AUTH_URL, else
// http://localhost:4000.
//
// An https:// server is verified against the system's CAs, or against the
// CA certificates of -ca (AUTH_CA); a server that requires client
// certificates gets the one of -client-cert and -client-key
// (AUTH_CLIENT_CERT, AUTH_CLIENT_KEY). All three are PEM files.
//
// The commands, each with its arguments and one line of help, are listed by
// `authctl help`.
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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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

// cli is one invocation.
type cli struct {
	ctx            context.Context
	c              *client.Client
	url            string        // the server's, for commands that act as many tenants
	timeout        time.Duration // of each request
	json           bool
	read           []client.ReadOption
	stdin          io.Reader
	stdout, stderr io.Writer
	usage          string // the usage text, for help
}

// usageError is bad usage: a message and the usage text.
type usageError string

func (e usageError) Error() string { return string(e) }

// run runs authctl with args (without the program name) and returns its
// exit status. getenv reads the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usage := usageText()
	fs.Usage = func() {
		fmt.Fprint(stderr, usage+"flags:\n")
		fs.PrintDefaults()
	}
	baseURL := getenv("AUTH_URL")
	if baseURL == "" {
		baseURL = defaultURL
	}
	fs.StringVar(&baseURL, "url", baseURL, "the server's URL (env AUTH_URL)")
	var files client.TLSFiles
	fs.StringVar(&files.CA, "ca", getenv("AUTH_CA"), "for https://: CA certificates (PEM) of the server's certificate; unset: the system's (env AUTH_CA)")
	fs.StringVar(&files.Cert, "client-cert", getenv("AUTH_CLIENT_CERT"), "for https://: client certificate (PEM), for a server that requires one (env AUTH_CLIENT_CERT)")
	fs.StringVar(&files.Key, "client-key", getenv("AUTH_CLIENT_KEY"), "the private key (PEM) of -client-cert (env AUTH_CLIENT_KEY)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", client.DefaultTimeout, "bound of each request (not of watch, import, export)")
	minSeq := fs.Uint64("min-seq", 0, "read from a state at least this recent (the seq of an earlier write)")
	effective := fs.Bool("effective", false, "perm list, member list, user roles: follow role inclusions")
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
	// Without a key, say so before anything else (even a misspelt
	// command), unless the command needs none.
	cmd, rest, err := lookup(fs.Args())
	key := getenv("AUTH_KEY")
	if key == "" && (cmd == nil || !cmd.keyless) {
		fmt.Fprintln(stderr, "authctl: AUTH_KEY is not set: export the tenant's key as AUTH_KEY (it is never taken from a flag)")
		return exitError
	}
	opts := []client.Option{client.WithTimeout(*timeout), client.WithUserAgent("authctl/1")}
	if files != (client.TLSFiles{}) {
		tlsConfig, err := client.LoadTLS(files)
		if err != nil {
			fmt.Fprintln(stderr, "authctl:", err)
			return exitError
		}
		opts = append(opts, client.WithTLS(tlsConfig))
	}
	x := &cli{
		ctx:     ctx,
		c:       client.New(baseURL, key, opts...),
		url:     baseURL,
		timeout: *timeout,
		json:    *asJSON,
		stdin:   stdin,
		stdout:  stdout,
		stderr:  stderr,
		usage:   usage,
	}
	defer x.c.CloseIdleConnections()
	if *minSeq > 0 {
		x.read = append(x.read, client.MinSeq(*minSeq))
	}
	if *effective {
		x.read = append(x.read, client.Effective())
	}
	code := exitOK
	if err == nil {
		code, err = cmd.call(x, rest)
	}
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
