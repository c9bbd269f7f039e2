package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCommandTable: every command is reachable by its words, and its
// synopsis agrees with the number of arguments it is checked against.
func TestCommandTable(t *testing.T) {
	required := regexp.MustCompile(`^<[a-z]+>$`)
	seen := map[string]bool{}
	for i := range commands {
		c := &commands[i]
		if seen[c.words] {
			t.Errorf("%q: listed twice", c.words)
		}
		seen[c.words] = true
		if c.help == "" || c.run == nil {
			t.Errorf("%q: no help or no run", c.words)
		}
		// A one-word command named like a group would hide the group.
		if group, _, ok := strings.Cut(c.words, " "); ok && seen[group] {
			t.Errorf("%q: %q is a command and a group", c.words, group)
		}
		got, rest, err := lookup(append(strings.Fields(c.words), "x"))
		if err != nil || got != c || !slices.Equal(rest, []string{"x"}) {
			t.Errorf("lookup(%q) = %v, %q, %v", c.words, got, rest, err)
		}
		if c.nargs >= 0 {
			fields := strings.Fields(c.args)
			ok := len(fields) == c.nargs
			for _, f := range fields {
				ok = ok && required.MatchString(f)
			}
			if !ok {
				t.Errorf("%q: synopsis %q, but takes %d argument(s)", c.words, c.args, c.nargs)
			}
		}
	}
}

// TestHelpListsEveryCommand: the usage text is written from the table,
// one line a command, in its order.
func TestHelpListsEveryCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, func(string) string { return "" }, nil, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Fatalf("help exited %d", code)
	}
	_, list, ok := strings.Cut(stderr.String(), "\ncommands:\n")
	if !ok {
		t.Fatalf("help printed no commands: %q", stderr.String())
	}
	var got, want []string
	for line := range strings.Lines(strings.TrimSpace(list)) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	for _, c := range commands {
		want = append(want, strings.Join(strings.Fields(c.words+" "+c.args+" "+c.help), " "))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("help's commands (-want +got):\n%s", diff)
	}
}

// TestUsageMessages: what bad usage says, before the usage text, and its
// exit status. No request is made: the URL leads nowhere.
func TestUsageMessages(t *testing.T) {
	withKey := map[string]string{"AUTH_KEY": "k", "AUTH_URL": "http://127.0.0.1:1"}
	noKey := map[string]string{"AUTH_URL": "http://127.0.0.1:1"}
	const missingKey = "authctl: AUTH_KEY is not set: export the tenant's key as AUTH_KEY (it is never taken from a flag)"
	tests := []struct {
		env  map[string]string
		args []string
		want string // stderr's first line
	}{
		{withKey, []string{"nope"}, `authctl: unknown command "nope"`},
		{withKey, []string{"role"}, "authctl: missing subcommand"},
		{withKey, []string{"role", "fly", "x"}, `authctl: unknown subcommand "fly"`},
		{withKey, []string{"role", "add"}, "authctl: add takes 1 argument(s)"},
		{withKey, []string{"role", "list", "x"}, "authctl: list takes 0 argument(s)"},
		{withKey, []string{"perm", "add", "r"}, "authctl: add takes 2 argument(s)"},
		{withKey, []string{"member", "has", "r"}, "authctl: has takes 2 argument(s)"},
		{withKey, []string{"user"}, "authctl: missing subcommand"},
		{withKey, []string{"user", "perms"}, "authctl: perms takes 1 argument(s)"},
		{withKey, []string{"can", "u"}, "authctl: can <user> <permission>"},
		{withKey, []string{"which-roles"}, "authctl: which-roles <permission>"},
		{withKey, []string{"which-users", "a", "b"}, "authctl: which-users <permission>"},
		{withKey, []string{"check", "x"}, "authctl: check reads its checks from stdin"},
		{withKey, []string{"import", "a", "b"}, "authctl: import [-replace] [file|-]"},
		{withKey, []string{"export", "a", "b"}, "authctl: export [file|-]"},
		{withKey, []string{"events", "x"}, "authctl: events [-after N] [-limit N] [-wait D]"},
		{withKey, []string{"events", "-limit", "-1"}, "authctl: events [-after N] [-limit N] [-wait D]"},
		{withKey, []string{"watch", "-n", "-1"}, "authctl: watch [-after N] [-n N]"},
		{withKey, []string{"status", "x"}, "authctl: status takes no arguments"},
		{withKey, []string{"ping", "x"}, "authctl: ping takes no arguments"},
		// Without a key, the key is what is missing, unless the command
		// needs none.
		{noKey, []string{"nope"}, missingKey},
		{noKey, []string{"role"}, missingKey},
		{noKey, []string{"role", "list"}, missingKey},
		{noKey, []string{"status", "x"}, "authctl: status takes no arguments"},
		{noKey, []string{"ping", "x"}, "authctl: ping takes no arguments"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &stdout, &stderr)
		first, _, _ := strings.Cut(stderr.String(), "\n")
		if diff := cmp.Diff(tt.want, first); diff != "" || code != exitError || stdout.Len() != 0 {
			t.Errorf("authctl %q: exit %d, stdout %q, stderr's first line (-want +got):\n%s", tt.args, code, stdout.String(), diff)
		}
	}
}
