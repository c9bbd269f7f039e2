package client

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
)

// Sentinel errors; an [*Error] matches the one of its status with
// [errors.Is].
var (
	// ErrBadRequest: 400, a bad name, key, argument or body; nothing
	// changed. Also returned, without a request, for an empty name.
	ErrBadRequest = errors.New("auth: bad request")
	// ErrUnauthorized: 401, no key (the Client was made with an empty key),
	// a revoked key, or a key the server made that no tenant has.
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrForbidden: 403, the key's scope does not allow the call (a check
	// key may only check; a read key may not write nor manage keys).
	// Nothing changed.
	ErrForbidden = errors.New("auth: forbidden by the key's scope")
	// ErrNotFound: 404, no such route.
	ErrNotFound = errors.New("auth: no such route")
	// ErrBehind: 409, the replica has not reached the MinSeq asked for.
	// Retry, here or on another replica.
	ErrBehind = errors.New("auth: replica behind min_seq")
	// ErrOtherEpoch: 412, the seq of a [MinSeq] or a feed cursor is of
	// another epoch of the server's store than [InEpoch] named (the store
	// was restored from a backup since): its seqs name other states there.
	// Start over: read without MinSeq, export and follow the feed again.
	// [Error.Epoch] is the store's epoch now, [Error.Seq] the tenant's seq.
	ErrOtherEpoch = errors.New("auth: seq of another epoch of the store")
	// ErrCycle: 422, a role inclusion (or an import with one) that would
	// make a cycle of roles; nothing changed.
	ErrCycle = errors.New("auth: inclusion would make a cycle of roles")
	// ErrGone: 410, a write to a tenant that was deleted (made at a
	// replica that had not heard of the deletion yet; nothing changed),
	// or a feed asked for events that retention no longer keeps.
	ErrGone = errors.New("auth: gone")
	// ErrTooLarge: 413, the request body is over the server's limit.
	ErrTooLarge = errors.New("auth: request too large")
	// ErrUnavailable: 503 (the store could not take the request), 504
	// (the store did not confirm a write in time) and 502 (a proxy found no
	// server). For a write, whether anything changed is told by
	// ErrNotApplied and ErrOutcomeUnknown, never by this. Retry later.
	ErrUnavailable = errors.New("auth: unavailable")

	// ErrNotApplied: a write that was refused and changed nothing, anywhere
	// (a 4xx, or a 503 whose outcome is "not_applied"). Safe to retry.
	ErrNotApplied = errors.New("auth: write not applied")
	// ErrOutcomeUnknown: a write that may have been made (the store did not
	// confirm it in time, the connection broke after it was sent, a proxy
	// gave up waiting), or was made and its answer is unknown (then
	// [Error.Seq] is the seq it was made at). Read, with [MinSeq] when a
	// seq is known, to find out before writing again.
	ErrOutcomeUnknown = errors.New("auth: write outcome unknown")
)

// Outcome says what a failed write did.
type Outcome string

// Outcomes of a failed write; reads have none.
const (
	// NotApplied: nothing changed.
	NotApplied Outcome = "not_applied"
	// Unknown: the write may have been made.
	Unknown Outcome = "unknown"
)

// Error is an answer other than 2xx.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's explanation, from {"error": "..."}, or the
	// start of the body if it was not that.
	Message string
	// Seq is, for a 409, the seq the replica had reached; for a write of
	// unknown outcome, the seq it was made at, when the server knows it.
	Seq uint64
	// Epoch is, for a 412, the epoch of the server's store.
	Epoch string
	// Outcome is, for a write, what it did: NotApplied or Unknown.
	Outcome Outcome
	// Method and Path are the request's; the path never holds the key.
	Method, Path string
}

func (e *Error) Error() string {
	return fmt.Sprintf("auth: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is reports whether target is the sentinel of e's status (statusOf) or
// of its outcome.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotApplied:
		return e.Outcome == NotApplied
	case ErrOutcomeUnknown:
		return e.Outcome == Unknown
	}
	return slices.Contains(statusOf[target], e.StatusCode)
}

// statusOf is the statuses each sentinel of a status stands for.
var statusOf = map[error][]int{
	ErrBadRequest:   {http.StatusBadRequest},
	ErrUnauthorized: {http.StatusUnauthorized},
	ErrForbidden:    {http.StatusForbidden},
	ErrNotFound:     {http.StatusNotFound},
	ErrBehind:       {http.StatusConflict},
	ErrOtherEpoch:   {http.StatusPreconditionFailed},
	ErrCycle:        {http.StatusUnprocessableEntity},
	ErrTooLarge:     {http.StatusRequestEntityTooLarge},
	ErrGone:         {http.StatusGone},
	ErrUnavailable:  {http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout},
}

// writeOutcome is the outcome of a write answered with status, given the
// server's word for it (empty if it said none: an older server, a proxy).
// Without one, a 4xx changed nothing and anything else may have.
func writeOutcome(status int, said string) Outcome {
	switch Outcome(said) {
	case NotApplied, Unknown:
		return Outcome(said)
	}
	if status >= 400 && status < 500 {
		return NotApplied
	}
	return Unknown
}

// TransportError is a write whose request failed on the way (the
// connection broke, the client's timeout passed): it matches
// ErrOutcomeUnknown unless the request certainly never reached the server
// (no connection could be made), then ErrNotApplied.
type TransportError struct {
	Method, Path string
	Outcome      Outcome
	Err          error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("auth: %s %s: %s (outcome %s)", e.Method, e.Path, e.Err, e.Outcome)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is matches ErrNotApplied or ErrOutcomeUnknown by the outcome.
func (e *TransportError) Is(target error) bool {
	return (target == ErrNotApplied && e.Outcome == NotApplied) ||
		(target == ErrOutcomeUnknown && e.Outcome == Unknown)
}

// transportOutcome: a request that failed before a connection was made
// was never sent.
func transportOutcome(err error) Outcome {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return NotApplied
	}
	return Unknown
}

// emptyName is the error for an empty name, which no route takes: it is
// refused here rather than sent to become a 404.
func emptyName(what string) error {
	return fmt.Errorf("auth: %s name is empty: %w", what, ErrBadRequest)
}
