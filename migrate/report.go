package migrate

import (
	"fmt"
	"strconv"
	"time"
)

// Outcome is what the migration did to one tenant on the server. Every
// tenant ends in exactly one.
type Outcome string

const (
	// Imported: written now, as one import, and applied (at Result.Seq).
	Imported Outcome = "imported"
	// Unchanged: the server already held exactly the tenant's facts (a
	// rerun), or there was nothing to import and it held nothing: nothing
	// written.
	Unchanged Outcome = "unchanged"
	// NotApplied: nothing written: the tenant was refused (Tenant.Refused),
	// the server already held it differently, or the server refused the
	// import and changed nothing (Result.Error says which).
	NotApplied Outcome = "not_applied"
	// Unknown: the import may have been made (the server did not confirm
	// it in time, the connection broke). A rerun finds out: it reads the
	// tenant before writing, and imports only into an empty one.
	Unknown Outcome = "unknown"
	// DryRun: nothing written, as asked; the tenant would be imported.
	DryRun Outcome = "dry_run"
)

// Result is one tenant's part of the report.
type Result struct {
	*Tenant
	Outcome Outcome `json:"outcome"`
	// Seq is the tenant's seq on the server after the import, or when it
	// was found unchanged.
	Seq uint64 `json:"seq,omitempty"`
	// Error says why the tenant was not applied, or is unknown.
	Error string `json:"error,omitempty"`
	// Verification is the comparison with the original, when made.
	Verification *Verification `json:"verification,omitempty"`
}

// Verification is how one tenant on the server compared with what the
// original answered.
type Verification struct {
	// Roles is the number of roles compared, each with its permissions
	// and members.
	Roles int `json:"roles"`
	// Checks is the number of checks compared.
	Checks int `json:"checks"`
	// Differences counts what the server answers otherwise than the
	// original; Examples describes the first few.
	Differences int      `json:"differences"`
	Examples    []string `json:"examples,omitempty"`
	// Error says why the tenant could not be verified.
	Error string `json:"error,omitempty"`
}

// OK reports whether the tenant was verified without a difference.
func (v *Verification) OK() bool { return v != nil && v.Error == "" && v.Differences == 0 }

// Report is the migration's account: one Result a tenant, sorted by
// tenant, and the totals.
type Report struct {
	Tenants []Result `json:"tenants"`
	Summary Summary  `json:"summary"`
}

// Summary is the report's totals.
type Summary struct {
	Tenants int `json:"tenants"`
	// Outcomes counts tenants by outcome.
	Outcomes map[Outcome]int `json:"outcomes"`
	// Roles, Grants and Memberships count what was (or, in a dry run,
	// would be) imported, over the tenants not refused.
	Roles       int `json:"roles"`
	Grants      int `json:"grants"`
	Memberships int `json:"memberships"`

	DanglingRefs  int `json:"dangling_refs"`
	DuplicateRefs int `json:"duplicate_refs"`
	ForeignRefs   int `json:"foreign_refs"`
	DuplicateDocs int `json:"duplicate_docs"`
	// Malformed counts skipped documents by collection.
	Malformed map[string]int `json:"malformed,omitempty"`
	// HiddenGrants counts the grants the original's bug hid; Restored
	// those of them imported.
	HiddenGrants int `json:"hidden_grants"`
	Restored     int `json:"restored"`
	// InvalidNames counts names the server refuses; Refused, the tenants
	// not imported for them or for their key.
	InvalidNames int `json:"invalid_names"`
	Refused      int `json:"refused"`

	// Verified counts tenants verified without a difference; Failed,
	// those with a difference or that could not be verified.
	Verified int `json:"verified"`
	Failed   int `json:"failed_verification"`

	// Read, Write, Verify and Total are the phases' wall times.
	Read   Seconds `json:"read_seconds"`
	Write  Seconds `json:"write_seconds"`
	Verify Seconds `json:"verify_seconds"`
	Total  Seconds `json:"total_seconds"`
}

// Seconds is a duration that encodes as seconds.
type Seconds time.Duration

// MarshalJSON writes s in seconds, to the millisecond.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Round(time.Millisecond).Seconds(), 'f', 3, 64), nil
}

// UnmarshalJSON reads seconds, so that a report reads back.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("migrate: seconds: %w", err)
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

// Unknown reports whether any tenant's outcome is unknown.
func (r *Report) Unknown() bool { return r.Summary.Outcomes[Unknown] > 0 }

// OK reports whether every tenant was imported or found unchanged (or, in
// a dry run, would be) and, where verification ran, verified.
func (r *Report) OK() bool {
	for _, t := range r.Tenants {
		switch t.Outcome {
		case Imported, Unchanged, DryRun:
		default:
			return false
		}
		if t.Verification != nil && !t.Verification.OK() {
			return false
		}
	}
	return true
}

// summarize fills r.Summary from its tenants.
func (r *Report) summarize(src *Source) {
	s := &r.Summary
	s.Tenants = len(r.Tenants)
	s.Outcomes = map[Outcome]int{}
	s.Malformed = src.Malformed
	for _, t := range r.Tenants {
		s.Outcomes[t.Outcome]++
		if t.Refused != "" {
			s.Refused++
		}
		s.Roles += t.Roles
		s.Grants += t.Grants
		s.Memberships += t.Memberships
		s.DanglingRefs += t.DanglingRefs
		s.DuplicateRefs += t.DuplicateRefs
		s.ForeignRefs += t.ForeignRefs
		s.DuplicateDocs += t.DuplicateDocs
		s.HiddenGrants += len(t.HiddenGrants)
		if t.Restored {
			s.Restored += len(t.HiddenGrants)
		}
		s.InvalidNames += len(t.Invalid)
		switch v := t.Verification; {
		case v == nil:
		case v.OK():
			s.Verified++
		default:
			s.Failed++
		}
	}
}
