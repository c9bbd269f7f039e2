// Command authbench benchmarks the authorization server.
//
//	authbench run       -addr HOST:PORT [-load] [-pid PID] [dataset, mix and load flags]
//	authbench compare   [-smoke] [-targets ceiling,embedded,mongo,spicedb,openfga] [-json FILE.json] [-chart FILE.png] [-md FILE.md]
//	authbench scale     [-max-users N] [-json FILE]
//	authbench seed      -dir DIR [dataset flags] [-snapshot=false]
//	authbench coldstart [-data DIR | dataset flags] [-runs N]
//	authbench history   [-rounds N] [-duration D] [-ops N] [-faults LIST] [-json FILE] [-dir DIR]
//	authbench chart     -in FILE.json -out FILE.png
//	authbench report    FILE.json...
//	authbench attack    [-smoke] [-attacks chunked,import,keys,streams] [-json FILE] [-md FILE]
//	authbench stall     [-members N] [-c N] [-json FILE]
//
// Run it from bench/ (go run ./cmd/authbench ...); compare, coldstart and
// history build ../cmd/auth-server (and what else they run) themselves;
// compare's peers (-targets ...,spicedb,openfga) are installed with go install
// at pinned versions into a cache folder on first use. Every figure is
// meant to be read as a ratio to a baseline measured in the same run: on a
// shared machine absolute numbers drift from run to run.
//
// Exit status: 0 on success; 1 on any error, any failed request or any
// answer that differs from the dataset's ground truth (for history: any
// violation of the model); 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"auth/bench/dataset"
	"auth/bench/loadgen"
)

var commands = map[string]func(ctx context.Context, args []string) error{
	"run":       cmdRun,
	"compare":   cmdCompare,
	"scale":     cmdScale,
	"seed":      cmdSeed,
	"coldstart": cmdColdstart,
	"history":   cmdHistory,
	"chart":     cmdChart,
	"report":    cmdReport,
	"attack":    cmdAttack,
	"stall":     cmdStall,
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: authbench COMMAND [flags]

commands:
  run        load-test one running server (closed or open loop)
  compare    start each target in turn, measure it, stop it; in-process Casbin comparison
  scale      in-process check cost as users, roles and tenants grow; memory per membership
  seed       write a large data folder for the embedded store, fast (batch events + snapshot)
  coldstart  time auth-server from start until /ping answers, on a seeded data folder
  history    three replicas through fault rounds, clients writing all along; check the history (linearizability, read-your-writes, convergence)
  chart      draw throughput and p99 per target from compare's -json output
  report     print markdown tables from compare, scale, coldstart, history or attack JSON files
  attack     hostile clients without a valid key against a fresh server each: memory, refusals, check p99
  stall      checks' p99, p99.9 and max while a tenant takes a 2M-membership import and role deletion

'authbench COMMAND -h' lists a command's flags.`)
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := commands[os.Args[1]](ctx, os.Args[2:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}

// The dataset: 100k users, 1k roles, 10k permissions, 3 roles per
// user, 20 grants per role, one tenant.
var defaultDataset = dataset.Config{Tenants: 1, Users: 100_000, Roles: 1_000, Perms: 10_000, RolesPerUser: 3, GrantsPerRole: 20, Seed: 1}

// smokeDataset is tiny: it loads through the API in well under a second.
var smokeDataset = dataset.Config{Tenants: 2, Users: 300, Roles: 20, Perms: 200, RolesPerUser: 3, GrantsPerRole: 5, Seed: 1}

func datasetFlags(fs *flag.FlagSet, c *dataset.Config) {
	fs.IntVar(&c.Tenants, "tenants", c.Tenants, "tenants (secret keys); the sizes below are per tenant")
	fs.IntVar(&c.Users, "users", c.Users, "users per tenant")
	fs.IntVar(&c.Roles, "roles", c.Roles, "roles per tenant")
	fs.IntVar(&c.Perms, "perms", c.Perms, "permissions per tenant")
	fs.IntVar(&c.RolesPerUser, "roles-per-user", c.RolesPerUser, "roles of each user")
	fs.IntVar(&c.GrantsPerRole, "grants-per-role", c.GrantsPerRole, "permissions granted to each role")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "dataset seed")
}

func mixFlags(fs *flag.FlagSet, m *loadgen.Mix) {
	fs.Float64Var(&m.TrueShare, "true-share", m.TrueShare, "share of checks that answer true")
	fs.Float64Var(&m.WriteShare, "write-share", m.WriteShare, "share of requests that are writes (membership add/remove of scratch users)")
	fs.Float64Var(&m.ListShare, "list-share", m.ListShare, "share of requests that are list queries (user_roles)")
}

// intList parses "1,16,64".
func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q in list %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 && fs.Name() != "report" {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
