package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestSubcommandArguments: each subcommand prints its usage and flags for
// -h, and refuses arguments it does not take with exit status 2, saying
// which.
func TestSubcommandArguments(t *testing.T) {
	for _, c := range []struct {
		name  string
		run   func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int
		usage string // the usage's first line
		flag  string // one of its flags
		extra string // what stray arguments make it say
	}{
		{"check", runCheck, "usage: auth-server check [-data DIR | -file FILE]", "-file", `auth-server check: unexpected arguments ["stray"]`},
		{"health", runHealth, "usage: auth-server health [-addr ADDR] [-timeout D]", "-timeout", `auth-server health: unexpected arguments ["stray"]`},
		{"backup", runBackup, "usage: auth-server backup -from http://127.0.0.1:4001 -to FILE", "-admin-token", "auth-server backup: give -to, and one of -from and -data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			noEnv := func(string) string { return "" }
			var out bytes.Buffer
			if code := c.run(context.Background(), []string{"-h"}, noEnv, &out, &out); code != exitCannotRun {
				t.Errorf("-h: exit %d, want %d", code, exitCannotRun)
			}
			if got := out.String(); !strings.HasPrefix(got, c.usage+"\n") || !strings.Contains(got, "  "+c.flag+" ") {
				t.Errorf("-h printed %q, want the usage %q and the flag %s", got, c.usage, c.flag)
			}
			out.Reset()
			if code := c.run(context.Background(), []string{"stray"}, noEnv, &out, &out); code != exitCannotRun {
				t.Errorf("a stray argument: exit %d, want %d", code, exitCannotRun)
			}
			if !strings.Contains(out.String(), c.extra) {
				t.Errorf("a stray argument: %q, want it to say %q", out.String(), c.extra)
			}
		})
	}
}
