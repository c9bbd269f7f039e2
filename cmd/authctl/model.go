package main

import (
	"flag"
	"fmt"
	"time"

	"auth/client"
)

// modelCommands change and read the model: roles, the permissions granted
// to them, their members, and a user's roles and permissions.
//
// A grant or a membership of a role that does not exist is not made and
// exits 1; a delete of what was not there is no error.
var modelCommands = []command{
	{words: "role add", args: "<role>", nargs: 1, help: "create a role", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.AddRole(x.ctx, n[0])
		return x.write(w, err, exitOK, "role %s: created", "role %s: already exists", n[0])
	}},
	{words: "role del", args: "<role>", nargs: 1, help: "delete it, with its grants and memberships", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.DelRole(x.ctx, n[0])
		return x.write(w, err, exitOK, "role %s: deleted, with its grants and memberships", "role %s: did not exist", n[0])
	}},
	{words: "role has", args: "<role>", nargs: 1, help: "exit 0 if the role exists, 1 if not", run: func(x *cli, n []string) (int, error) {
		return x.answer(x.c.HasRole(x.ctx, n[0], x.read...))
	}},
	{words: "role list", nargs: 0, help: "the roles", run: func(x *cli, _ []string) (int, error) {
		return x.list(x.c.Roles(x.ctx, x.read...))
	}},

	{words: "perm add", args: "<role> <permission>", nargs: 2, help: "grant (exit 1 if there is no such role)", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.AddPermission(x.ctx, n[0], n[1])
		return x.write(w, err, exitNo, "role %s: granted %s", "role %s does not exist: %s not granted", n[0], n[1])
	}},
	{words: "perm del", args: "<role> <permission>", nargs: 2, help: "revoke", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.DelPermission(x.ctx, n[0], n[1])
		return x.write(w, err, exitOK, "role %s: %s revoked", "role %s: %s revoked", n[0], n[1])
	}},
	{words: "perm has", args: "<role> <permission>", nargs: 2, help: "exit 0 if granted, 1 if not", run: func(x *cli, n []string) (int, error) {
		return x.answer(x.c.HasPermission(x.ctx, n[0], n[1], x.read...))
	}},
	listCommand("perm list", "<role>", "the role's permissions", (*client.Client).RolePermissions),

	// The client names the user first, as the original's routes do; the
	// CLI names the role first, as perm does.
	{words: "member add", args: "[-for D | -until T] [-from T] <role> <user>", nargs: -1, help: "add a member, for good or within a window (RFC 3339 times); exit 1 if there is no such role", run: (*cli).memberAdd},
	{words: "member del", args: "<role> <user>", nargs: 2, help: "remove a member", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.DelMembership(x.ctx, n[1], n[0])
		return x.write(w, err, exitOK, "role %s: %s removed", "role %s: %s removed", n[0], n[1])
	}},
	{words: "member has", args: "<role> <user>", nargs: 2, help: "exit 0 if a member, 1 if not", run: func(x *cli, n []string) (int, error) {
		return x.answer(x.c.HasMembership(x.ctx, n[1], n[0], x.read...))
	}},
	listCommand("member list", "<role>", "the role's members", (*client.Client).RoleMembers),

	// Inclusions: the including role's members have the included role's
	// permissions. One that would make a cycle of roles is refused (exit 2).
	{words: "incl add", args: "<role> <included>", nargs: 2, help: "make role include another (exit 1 if either does not exist)", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.AddInclusion(x.ctx, n[0], n[1])
		return x.write(w, err, exitNo, "role %s: includes %s", "role %s or %s does not exist: no inclusion made", n[0], n[1])
	}},
	{words: "incl del", args: "<role> <included>", nargs: 2, help: "remove an inclusion", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.DelInclusion(x.ctx, n[0], n[1])
		return x.write(w, err, exitOK, "role %s: no longer includes %s", "role %s: no longer includes %s", n[0], n[1])
	}},
	{words: "incl has", args: "<role> <included>", nargs: 2, help: "exit 0 if role includes the other directly, 1 if not", run: func(x *cli, n []string) (int, error) {
		return x.answer(x.c.HasInclusion(x.ctx, n[0], n[1], x.read...))
	}},
	listCommand("incl list", "<role>", "the roles it includes directly", (*client.Client).Inclusions),

	listCommand("user roles", "<user>", "the user's roles", (*client.Client).UserRoles),
	{words: "user del", args: "<user>", nargs: 1, help: "take the user out of every role", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.DelUser(x.ctx, n[0])
		return x.write(w, err, exitOK, "user %s: out of every role", "user %s: out of every role", n[0])
	}},
	listCommand("user perms", "<user>", "the user's permissions, through its roles", (*client.Client).UserPermissions),
}

// memberAdd adds a member: for good, or, with -for, -until or -from, only
// within that window (replacing the window it had).
func (x *cli) memberAdd(args []string) (int, error) {
	fs := flag.NewFlagSet("member add", flag.ContinueOnError)
	fs.SetOutput(x.stderr)
	forD := fs.Duration("for", 0, "the membership ends this long from now")
	until := fs.String("until", "", "the membership ends at this time (RFC 3339)")
	from := fs.String("from", "", "the membership starts at this time (RFC 3339)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 || (*forD != 0 && *until != "") || *forD < 0 {
		return 0, errArgs
	}
	role, user := fs.Arg(0), fs.Arg(1)
	var starts, ends time.Time
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{*from, &starts}, {*until, &ends}} {
		if t.s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			fmt.Fprintf(x.stderr, "authctl: %v\n", err)
			return 0, errArgs
		}
		*t.dst = v
	}
	if *forD > 0 {
		ends = time.Now().Add(*forD)
	}
	if starts.IsZero() && ends.IsZero() {
		w, err := x.c.AddMembership(x.ctx, user, role)
		return x.write(w, err, exitNo, "role %s: %s added", "role %s does not exist: %s not added", role, user)
	}
	w, err := x.c.AddMembershipWindow(x.ctx, user, role, starts, ends)
	window := ""
	if !starts.IsZero() {
		window += " from " + starts.UTC().Format(time.RFC3339)
	}
	if !ends.IsZero() {
		window += " until " + ends.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return x.write(w, err, exitNo, "role %s: %s added"+window, "role %s does not exist: %s not added", role, user)
}
