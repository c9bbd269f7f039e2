package main

import (
	"bufio"
	"fmt"
	"strings"

	"auth/client"
)

// checkCommands ask who may do what: one check, many from stdin, and the
// roles and users that have a permission.
var checkCommands = []command{
	{words: "can", args: "<user> <permission>", nargs: 2, help: "exit 0 if allowed, 1 if not", run: func(x *cli, n []string) (int, error) {
		return x.answer(x.c.UserHasPermission(x.ctx, n[0], n[1], x.read...))
	}},
	{words: "why", args: "<user> <permission>", nargs: 2, help: "the roles through which the user has it, with their paths of inclusions; exit 1 if not allowed", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.Why(x.ctx, n[0], n[1], x.read...)
		if err != nil {
			return 0, err
		}
		human := "no"
		if w.Result {
			var lines []string
			for _, v := range w.Via {
				path := v.Role
				if len(v.Path) > 1 {
					path = strings.Join(v.Path, " > ")
				}
				lines = append(lines, path)
			}
			human = strings.Join(lines, "\n")
		}
		if _, err := x.print(w, human); err != nil {
			return 0, err
		}
		if !w.Result {
			return exitNo, nil
		}
		return exitOK, nil
	}},
	listCommand("which-roles", "<permission>", "the roles whose members have the permission", (*client.Client).WhichRolesCan),
	listCommand("which-users", "<permission>", "the users who have the permission", (*client.Client).WhichUsersCan),
	{words: "check", nargs: -1, help: `lines "user permission" on stdin (tab-separated if names hold spaces)`, run: (*cli).check},
}

type checked struct {
	User       string `json:"user"`
	Permission string `json:"permission"`
	Result     bool   `json:"result"`
}

// check reads "user permission" lines from stdin and answers them in
// batches of client.MaxChecks, each from a state no older than the last.
func (x *cli) check(args []string) (int, error) {
	if len(args) != 0 {
		return 0, usageError("check reads its checks from stdin")
	}
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
