package history

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Fault is the kind of fault one round injects and heals.
type Fault string

// The faults.
const (
	// FaultNATS stops the NATS server the replicas share and starts it
	// again; replicas keep taking writes meanwhile. The first round, if
	// Config.Scenario, adds the known lost revoke to it.
	FaultNATS Fault = "nats"
	// FaultKill kills a replica with SIGKILL right after it acknowledged a
	// write, and restarts it on the same port and data folder.
	FaultKill Fault = "kill"
	// FaultBusSplit restarts one replica on a second NATS server that no
	// other replica uses, then moves it back.
	FaultBusSplit Fault = "bus-split"
	// FaultStorePause stops the MongoDB server's process (SIGSTOP) for
	// Config.StorePause, then lets it run again.
	FaultStorePause Fault = "store-pause"
	// FaultRetention restarts the replicas with few events kept past a
	// snapshot (Config.KeepEvents, Config.SnapshotEvery), one of them on a
	// NATS server of its own, stops that one (SIGSTOP) while the others
	// write past what is kept, and lets it run again: it can only catch up
	// from a snapshot. The replicas are restarted with the defaults once
	// the round has converged.
	FaultRetention Fault = "retention"
	// FaultImport sends a big import (Config.BulkLines lines) to one
	// replica while the clients keep writing.
	FaultImport Fault = "big-import"
)

// AllFaults lists every fault, in the order rounds cycle through them.
var AllFaults = []Fault{FaultNATS, FaultKill, FaultBusSplit, FaultStorePause, FaultRetention, FaultImport}

// ParseFaults parses a comma-separated list of faults; "all" is every one.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "all":
			out = append(out, AllFaults...)
		case slices.Contains(AllFaults, Fault(f)):
			out = append(out, Fault(f))
		default:
			return nil, fmt.Errorf("history: unknown fault %q (have %v)", f, AllFaults)
		}
	}
	return out, nil
}

// Config configures a run.
type Config struct {
	// AuthServer and Launcher are the binaries of auth-server and of the
	// MongoDB test server (see BuildAuthServer, BuildLauncher).
	AuthServer, Launcher string
	// Dir is an existing folder for the servers' data and logs, and the
	// visualization of a failed check.
	Dir string

	Replicas int // auth-server processes
	// ServerArgs are extra flags of every replica (none by default: the
	// servers run with their defaults).
	ServerArgs []string
	Tenants    int // keys the clients write to
	Clients    int // concurrent clients

	// Rounds is the number of fault rounds; the faults are taken from
	// Faults in turn. Duration, if not 0, stops starting rounds once it
	// has passed (at least one round runs).
	Rounds   int
	Duration time.Duration
	Faults   []Fault
	// Scenario makes the first round the known lost revoke, made
	// deterministic: with NATS stopped, add mallory to admin at one
	// replica and remove her at another; and add a role to a tenant
	// another replica has not loaded, then a membership of it there.
	Scenario bool
	// OpsPerPhase is how many operations a round waits for before its
	// fault, while it lasts and after the heal (so a round has at least
	// three times as many). PhaseTimeout bounds each wait.
	OpsPerPhase  int
	PhaseTimeout time.Duration

	// PairShare is the share of client actions that write at one replica
	// and at once undo it at another (the bus lag's race); ReadShare the
	// share of acknowledged writes followed by a read with min_seq at
	// another replica.
	PairShare, ReadShare float64

	// BulkLines is the size of the big import.
	BulkLines int
	// StorePause is how long FaultStorePause keeps the store stopped.
	StorePause time.Duration
	// KeepEvents and SnapshotEvery are FaultRetention's server flags.
	KeepEvents, SnapshotEvery uint64

	// ConvergeWithin is how long replicas have, once a round's fault is
	// healed and its clients are quiet, to answer the same state.
	ConvergeWithin time.Duration
	// CheckTimeout bounds the linearizability check (0: no bound).
	CheckTimeout time.Duration
	// WriteTimeout bounds a client's write (ImportTimeout a big import's);
	// past it the outcome is unknown. It must exceed the server's own
	// write deadline, so that a write given up on is over by the end of
	// its round.
	WriteTimeout, ImportTimeout time.Duration

	Seed uint64
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// DefaultConfig is a short run: every fault once, about 4,000 operations.
func DefaultConfig() Config {
	return Config{
		Replicas:       3,
		Tenants:        3,
		Clients:        6,
		Rounds:         len(AllFaults),
		Faults:         AllFaults,
		Scenario:       true,
		OpsPerPhase:    200,
		PhaseTimeout:   60 * time.Second,
		PairShare:      0.15,
		ReadShare:      0.3,
		BulkLines:      100_000,
		StorePause:     5 * time.Second,
		KeepEvents:     5,
		SnapshotEvery:  20,
		ConvergeWithin: 10 * time.Second,
		CheckTimeout:   2 * time.Minute,
		WriteTimeout:   15 * time.Second,
		ImportTimeout:  2 * time.Minute,
		Seed:           1,
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.AuthServer == "" || c.Launcher == "":
		return errors.New("history: AuthServer and Launcher are required")
	case c.Dir == "":
		return errors.New("history: Dir is required")
	case c.Replicas < 2:
		return errors.New("history: at least 2 replicas")
	case c.Tenants < 2:
		return errors.New("history: at least 2 tenants (the scenario needs a fresh one)")
	case c.Clients < 1:
		return errors.New("history: at least 1 client")
	case c.Rounds < 1:
		return errors.New("history: at least 1 round")
	case len(c.Faults) == 0 && !(c.Scenario && c.Rounds == 1):
		return errors.New("history: no faults")
	case c.OpsPerPhase < 1 || c.PhaseTimeout <= 0:
		return errors.New("history: OpsPerPhase and PhaseTimeout must be positive")
	case c.PairShare < 0 || c.ReadShare < 0 || c.PairShare > 1 || c.ReadShare > 1:
		return errors.New("history: shares are between 0 and 1")
	case c.BulkLines < 2:
		return errors.New("history: BulkLines must be at least 2 (a role line and a member)")
	case c.ConvergeWithin <= 0 || c.WriteTimeout <= 0 || c.ImportTimeout <= 0:
		return errors.New("history: ConvergeWithin, WriteTimeout and ImportTimeout must be positive")
	case c.KeepEvents < 1 || c.SnapshotEvery < 1:
		return errors.New("history: KeepEvents and SnapshotEvery must be positive")
	}
	return nil
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}
