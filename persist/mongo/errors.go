package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"auth/persist"
)

// unavailable wraps a failed round trip to the server.
func unavailable(what string, err error) error {
	if errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("mongo: %s: %w", what, persist.ErrClosed)
	}
	return fmt.Errorf("mongo: %s: %w: %w", what, persist.ErrUnavailable, err)
}

// notSent reports an error that the driver returned before it sent the
// command: no server could be selected, no connection checked out, or the
// deadline left no time to try. Nothing can have been written.
func notSent(err error) bool {
	var sse topology.ServerSelectionError
	var wqe topology.WaitQueueTimeoutError
	return errors.As(err, &sse) || errors.As(err, &wqe) ||
		errors.Is(err, driver.ErrDeadlineWouldBeExceeded)
}

// rejected reports an error that the server answered for a write it did not
// make: a write error (other than a timeout) with no write concern error.
// An error of a primary stepping down or shutting down is never taken as
// one: the write may have been made before the primary lost its role, and
// may survive the election (see Failover in the package doc).
func rejected(err error) bool {
	if mongo.IsTimeout(err) || mongo.IsNetworkError(err) || stateChange(err) {
		return false
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		return we.WriteConcernError == nil && len(we.WriteErrors) > 0
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code != 0
	}
	return false
}

// transient reports an error worth retrying within the call's time: the
// server was unreachable, busy, or not the primary for a moment.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if notSent(err) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var le mongo.LabeledError
	if errors.As(err, &le) && (le.HasErrorLabel("RetryableWriteError") || le.HasErrorLabel("TransientTransactionError")) {
		return true
	}
	return stateChange(err)
}

// stateChange reports an error of a server that is not (or no longer) the
// primary, or is shutting down.
func stateChange(err error) bool {
	var le mongo.LabeledError
	if errors.As(err, &le) && le.HasErrorLabel("RetryableWriteError") {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, code := range []int{
			91,    // ShutdownInProgress
			189,   // PrimarySteppedDown
			10107, // NotWritablePrimary
			11600, // InterruptedAtShutdown
			11602, // InterruptedDueToReplStateChange
			13435, // NotPrimaryNoSecondaryOk
			13436, // NotPrimaryOrSecondary
		} {
			if se.HasErrorCode(code) {
				return true
			}
		}
	}
	return false
}
