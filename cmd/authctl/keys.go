package main

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"auth/client"
)

// keyCommands manage the tenant's keys; AUTH_KEY must have the admin
// scope. A new key's secret is printed once, alone on stdout, so that a
// script can take it (`NEW=$(authctl key add billing check)`); what it is
// goes to stderr.
var keyCommands = []command{
	{words: "key add", args: "<name> <scope>", nargs: 2, help: "make a key whose scope is check, read or admin; prints its secret, shown this once", run: func(x *cli, n []string) (int, error) {
		return x.newKey(x.c.AddKey(x.ctx, n[0], n[1]))
	}},
	{words: "key list", nargs: 0, help: "the tenant's keys: id, scope, created, name (never a secret)", run: (*cli).listKeys},
	{words: "key revoke", args: "<id>", nargs: 1, help: "revoke a key at once (exit 1 if there is no such key)", run: func(x *cli, n []string) (int, error) {
		w, err := x.c.RevokeKey(x.ctx, n[0])
		if errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(x.stderr, "key %s: no such key\n", n[0])
			return exitNo, nil
		}
		return x.write(w, err, exitNo, "key %s: revoked", "key %s: no such key", n[0])
	}},
	{words: "key rotate", args: "[name]", nargs: -1, help: "a new admin key, AUTH_KEY revoked in the same change; prints the new secret", run: func(x *cli, n []string) (int, error) {
		if len(n) > 1 {
			return 0, errArgs
		}
		name := ""
		if len(n) == 1 {
			name = n[0]
		}
		return x.newKey(x.c.RotateKey(x.ctx, name))
	}},
	{words: "tenant delete", args: "-yes", nargs: -1, help: "delete AUTH_KEY's tenant everywhere: every role, grant, membership and key (no undo)", run: func(x *cli, n []string) (int, error) {
		if len(n) != 1 || n[0] != "-yes" {
			return 0, errArgs
		}
		d, err := x.c.DeleteTenant(x.ctx)
		if err != nil {
			return 0, err
		}
		return x.print(d, fmt.Sprintf("tenant deleted (seq %d); gone from every replica by %s", d.Seq, d.GoneEverywhereBy.UTC().Format(time.RFC3339)))
	}},
}

// newKey prints a key just made: the secret alone on stdout (or the whole
// answer as JSON), what it is on stderr.
func (x *cli) newKey(k client.NewKey, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	if x.json {
		return exitOK, x.printJSON(k)
	}
	if _, err := fmt.Fprintln(x.stdout, k.Key); err != nil {
		return 0, err
	}
	msg := fmt.Sprintf("%s (seq %d): its secret, above, is shown this once", k, k.Seq)
	if k.Revoked != "" {
		msg += "; key " + k.Revoked + " is revoked"
	}
	fmt.Fprintln(x.stderr, msg)
	return exitOK, nil
}

func (x *cli) listKeys([]string) (int, error) {
	keys, err := x.c.Keys(x.ctx, x.read...)
	if err != nil {
		return 0, err
	}
	if x.json {
		return exitOK, x.printJSON(keys)
	}
	w := bufio.NewWriter(x.stdout)
	for _, k := range keys {
		created := "-"
		if !k.Created.IsZero() {
			created = k.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Scope, created, k.Name)
	}
	return exitOK, w.Flush()
}
