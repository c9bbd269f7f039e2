package main

import (
	"auth/client"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// command is one authctl command. The table of them, commands, is the only
// list: the usage text is written from it and the dispatch looks commands
// up in it, so a command added there is documented and reachable at once.
type command struct {
	// words select the command: one ("can") or, in a group such as role,
	// two ("role add").
	words string
	// args is the synopsis of its arguments, for the usage text and for
	// the message on bad arguments: "<role> <permission>", "[file|-]".
	args string
	// nargs is how many arguments it takes; -1 where run checks them
	// itself (optional arguments, flags).
	nargs int
	// help is one line for the usage text.
	help string
	// keyless commands run without AUTH_KEY: they ask the server, not a
	// tenant.
	keyless bool
	// run does it and returns the exit status. It may return errArgs for
	// arguments it cannot take.
	run func(x *cli, args []string) (int, error)
}

// listCommand is a command that prints the list read answers for its one
// argument (argument names it in the usage text).
func listCommand(words, argument, help string, read func(c *client.Client, ctx context.Context, name string, opts ...client.ReadOption) (client.List, error)) command {
	return command{words: words, args: argument, nargs: 1, help: help, run: func(x *cli, n []string) (int, error) {
		return x.list(read(x.c, x.ctx, n[0], x.read...))
	}}
}

// commands is every command, in the order the usage text lists them: one
// group of commands a file.
var commands = slices.Concat(modelCommands, keyCommands, checkCommands, bulkCommands, feedCommands, serverCommands, migrateCommands, []command{
	{words: "help", nargs: -1, help: "print this text", keyless: true, run: (*cli).help},
})

// errArgs is a command's answer to arguments it cannot take; call turns it
// into a usage error that names the command's synopsis.
var errArgs = errors.New("bad arguments")

// lookup finds the command that args name, by its first word or, in a
// group, its first two, and returns it with its arguments.
func lookup(args []string) (*command, []string, error) {
	name, group := args[0], false
	for i := range commands {
		c := &commands[i]
		if c.words == name {
			return c, args[1:], nil
		}
		group = group || strings.HasPrefix(c.words, name+" ")
	}
	if !group {
		return nil, nil, usageError(fmt.Sprintf("unknown command %q", name))
	}
	if len(args) == 1 {
		return nil, nil, usageError("missing subcommand")
	}
	for i := range commands {
		if c := &commands[i]; c.words == name+" "+args[1] {
			return c, args[2:], nil
		}
	}
	return nil, nil, usageError(fmt.Sprintf("unknown subcommand %q", args[1]))
}

// call checks the number of args and runs c.
func (c *command) call(x *cli, args []string) (int, error) {
	if c.nargs >= 0 && len(args) != c.nargs {
		return 0, c.argsError()
	}
	code, err := c.run(x, args)
	if errors.Is(err, errArgs) {
		return 0, c.argsError()
	}
	return code, err
}

// argsError says what c takes.
func (c *command) argsError() error {
	if _, sub, ok := strings.Cut(c.words, " "); ok {
		return usageError(fmt.Sprintf("%s takes %d argument(s)", sub, c.nargs))
	}
	if c.args == "" {
		return usageError(c.words + " takes no arguments")
	}
	return usageError(c.words + " " + c.args)
}

// usageText is the usage, without the flags.
func usageText() string {
	var b strings.Builder
	b.WriteString(`usage: authctl [-url URL] [-ca FILE] [-client-cert FILE -client-key FILE] [-json] [-timeout D] [-min-seq N] <command> [args]

The key is read from AUTH_KEY (never from a flag); the URL from -url, else
AUTH_URL, else ` + defaultURL + `. For https://, -ca (AUTH_CA) names the
CA of the server's certificate, and -client-cert, -client-key
(AUTH_CLIENT_CERT, AUTH_CLIENT_KEY) a client certificate.

commands:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.words+" "+c.args), c.help)
	}
	tw.Flush()
	b.WriteString("\n")
	return b.String()
}

// help prints the usage, without the flags.
func (x *cli) help([]string) (int, error) {
	fmt.Fprint(x.stderr, x.usage)
	return exitOK, nil
}
