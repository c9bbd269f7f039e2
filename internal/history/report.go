package history

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is what a run found.
type Report struct {
	Duration      float64        `json:"duration_seconds"`
	Replicas      int            `json:"replicas"`
	Tenants       int            `json:"tenants"`
	Clients       int            `json:"clients"`
	Operations    OpCounts       `json:"operations"`
	Rounds        []*RoundReport `json:"rounds"`
	Check         CheckReport    `json:"check"`
	Violations    []Violation    `json:"violations"`
	Kinds         map[string]int `json:"violations_by_kind"`
	Visualization string         `json:"visualization,omitempty"` // porcupine's HTML, when the check failed
	Dir           string         `json:"dir"`                     // the servers' data and logs
}

// OpCounts counts the operations of a run.
type OpCounts struct {
	Total int `json:"total"`
	// Writes are every write the clients made (Imports among them), by
	// outcome: applied (200), refused (503, or never sent), unknown.
	Writes  int `json:"writes"`
	Imports int `json:"imports"`
	Applied int `json:"applied"`
	Refused int `json:"refused"`
	Unknown int `json:"unknown"`
	// Of the unknown ones, settled by the store's events: no event of
	// theirs (they changed nothing), or exactly one (its seq is theirs).
	UnknownNoEvent int `json:"unknown_no_event"`
	UnknownPinned  int `json:"unknown_pinned"`
	// MinSeqReads are the reads with a write's seq as min_seq: checked
	// (answered 200), behind (409: the replica did not reach the seq in
	// time, which the API allows), failed (anything else).
	MinSeqReads   int `json:"min_seq_reads"`
	MinSeqChecked int `json:"min_seq_checked"`
	MinSeqBehind  int `json:"min_seq_behind"`
	MinSeqFailed  int `json:"min_seq_failed"`
	// StateReads are the exports read at the ends of rounds.
	StateReads int `json:"state_reads"`
	// Failures counts the writes that were not applied, by kind of
	// failure: status and error, or what happened to the connection.
	Failures map[string]int `json:"failures,omitempty"`
}

// RoundReport is one fault round. Times are seconds since the run's start.
type RoundReport struct {
	Index  int    `json:"index"`
	Fault  Fault  `json:"fault"`
	Detail string `json:"detail"`
	// Start, Injected, Healed and End are nanoseconds since the run's
	// start.
	Start    int64 `json:"start_ns"`
	Injected int64 `json:"injected_ns"`
	Healed   int64 `json:"healed_ns"`
	End      int64 `json:"end_ns"`
	// Operations before the fault, while it lasted, after the heal.
	OpsBefore int `json:"ops_before"`
	OpsDuring int `json:"ops_during"`
	OpsAfter  int `json:"ops_after"`
	Ops       int `json:"ops"`
	Refused   int `json:"refused"`
	Unknown   int `json:"unknown"`
	// Converged: every replica answered the same state within
	// ConvergeWithin, after ConvergeSeconds; Seqs are the tenants' seqs
	// there. Divergence says how they differed if they did not.
	Converged       bool        `json:"converged"`
	ConvergeSeconds float64     `json:"converge_seconds"`
	Seqs            []TenantSeq `json:"seqs,omitempty"`
	Divergence      []string    `json:"divergence,omitempty"`
	Crashes         []string    `json:"crashes,omitempty"`
	// Error is why the run stopped in this round (a replica that did not
	// start again, a fault that could not be injected).
	Error string   `json:"error,omitempty"`
	Notes []string `json:"notes,omitempty"`
}

// TenantSeq is a tenant's seq at a round's end.
type TenantSeq struct {
	Tenant int    `json:"tenant"`
	Seq    uint64 `json:"seq"`
}

// CheckReport is the linearizability check's outcome.
type CheckReport struct {
	Result     string  `json:"result"`
	Partitions int     `json:"partitions"`
	Failed     int     `json:"failed"`
	Operations int     `json:"operations"`
	Seconds    float64 `json:"seconds"`
}

// The kinds of violations.
const (
	KindLinearizability = "linearizability"  // a partition of the history has no linearization
	KindReadYourWrite   = "read-your-writes" // a read with a write's seq did not see it
	KindConvergence     = "convergence"      // replicas did not agree in time
	KindCrash           = "crash"            // a replica exited on its own
	KindAnswer          = "answer"           // an answer the API does not allow (a 4xx to a valid write, no seq)
	KindUndecided       = "undecided"        // the check timed out on a partition
	KindAborted         = "aborted"          // the run could not go on (a replica that did not start again)
)

// Classes of linearizability violations.
const (
	// ClassStaleSeq: the answers and the states are right, but a write
	// that changed nothing answered a seq older than the state's (a
	// consistency token that does not cover writes acknowledged before
	// it was made).
	ClassStaleSeq = "stale-seq"
	// ClassState: an answer or a state read is wrong: a lost write, an
	// answer from a replica that had not seen an earlier write.
	ClassState = "state"
)

// Violation is one thing the servers got wrong.
type Violation struct {
	Kind    string   `json:"kind"`
	Class   string   `json:"class,omitempty"` // for linearizability: ClassStaleSeq or ClassState
	Round   int      `json:"round"`           // -1 if not tied to one
	Fault   Fault    `json:"fault"`           // the round's fault
	Tenant  int      `json:"tenant"`          // -1 if not tied to one
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
}

func (r *Report) add(v Violation) {
	r.Violations = append(r.Violations, v)
	if r.Kinds == nil {
		r.Kinds = map[string]int{}
	}
	r.Kinds[v.Kind]++
}

// Failed says whether the run found any violation.
func (r *Report) Failed() bool { return len(r.Violations) > 0 }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: counts, rounds, then every
// violation (the first maxPerKind of each kind in full).
func (r *Report) WriteText(w io.Writer, maxPerKind int) {
	o := r.Operations
	fmt.Fprintf(w, "history: %d replicas, %d tenants, %d clients, %.1fs\n", r.Replicas, r.Tenants, r.Clients, r.Duration)
	fmt.Fprintf(w, "operations: %d: %d writes (%d imports): %d applied, %d refused, %d unknown (%d made no event, %d settled to one); %d reads with min_seq: %d checked, %d behind (409), %d failed; %d state reads\n",
		o.Total, o.Writes, o.Imports, o.Applied, o.Refused, o.Unknown, o.UnknownNoEvent, o.UnknownPinned, o.MinSeqReads, o.MinSeqChecked, o.MinSeqBehind, o.MinSeqFailed, o.StateReads)
	for _, f := range slices.Sorted(maps.Keys(o.Failures)) {
		fmt.Fprintf(w, "  failed writes: %5d %s\n", o.Failures[f], f)
	}
	fmt.Fprintf(w, "rounds: %d\n", len(r.Rounds))
	for _, rr := range r.Rounds {
		conv := fmt.Sprintf("converged in %.2fs", rr.ConvergeSeconds)
		switch {
		case rr.Error != "":
			conv = "STOPPED: " + rr.Error
		case !rr.Converged:
			conv = fmt.Sprintf("DID NOT CONVERGE in %.2fs", rr.ConvergeSeconds)
		}
		fmt.Fprintf(w, "  %d %-12s %5d ops (%d before, %d during, %d after; %d refused, %d unknown), %s; %s (fault %.1fs-%.1fs)\n",
			rr.Index, rr.Fault, rr.Ops, rr.OpsBefore, rr.OpsDuring, rr.OpsAfter, rr.Refused, rr.Unknown, conv, rr.Detail,
			time.Duration(rr.Injected).Seconds(), time.Duration(rr.Healed).Seconds())
		for _, n := range rr.Notes {
			fmt.Fprintf(w, "      note: %s\n", n)
		}
	}
	fmt.Fprintf(w, "check: %s: %d partitions, %d operations, %d failed, %.2fs\n", r.Check.Result, r.Check.Partitions, r.Check.Operations, r.Check.Failed, r.Check.Seconds)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "violations: none")
		return
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(r.Kinds)) {
		kinds = append(kinds, fmt.Sprintf("%d %s", r.Kinds[k], k))
	}
	fmt.Fprintf(w, "violations: %d (%s)\n", len(r.Violations), strings.Join(kinds, ", "))
	shown := map[string]int{}
	for _, v := range r.Violations {
		if shown[v.Kind]++; shown[v.Kind] > maxPerKind {
			continue
		}
		where := ""
		if v.Round >= 0 {
			where = fmt.Sprintf(" round %d (%s)", v.Round, v.Fault)
		}
		if v.Tenant >= 0 {
			where += fmt.Sprintf(" tenant %d", v.Tenant)
		}
		kind := v.Kind
		if v.Class != "" {
			kind += "/" + v.Class
		}
		fmt.Fprintf(w, "- [%s]%s: %s\n", kind, where, v.Summary)
		for _, d := range v.Details {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(shown)) {
		if n := shown[k]; n > maxPerKind {
			fmt.Fprintf(w, "(%d more %s violations in the JSON report)\n", n-maxPerKind, k)
		}
	}
	if r.Visualization != "" {
		fmt.Fprintf(w, "visualization: %s\n", r.Visualization)
	}
	fmt.Fprintf(w, "servers' logs: %s\n", r.Dir)
}
