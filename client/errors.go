package client

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors; an [*Error] matches the one of its status with
// [errors.Is].
var (
	// ErrBadRequest: 400, a bad name, key, argument or body; nothing
	// changed. Also returned, without a request, for an empty name.
	ErrBadRequest = errors.New("auth: bad request")
	// ErrUnauthorized: 401, no key (the Client was made with an empty key).
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrNotFound: 404, no such route.
	ErrNotFound = errors.New("auth: no such route")
	// ErrBehind: 409, the replica has not reached the MinSeq asked for.
	// Retry, here or on another replica.
	ErrBehind = errors.New("auth: replica behind min_seq")
	// ErrTooLarge: 413, the request body is over the server's limit.
	ErrTooLarge = errors.New("auth: request too large")
	// ErrUnavailable: 503, the store could not make a write durable, so
	// nothing changed (or, rarely, the store did not confirm it in time);
	// also 502 and 504 from a proxy in front of the server. Retry later.
	ErrUnavailable = errors.New("auth: unavailable")
)

// Error is an answer other than 2xx.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's explanation, from {"error": "..."}, or the
	// start of the body if it was not that.
	Message string
	// Seq is, for a 409, the seq the replica had reached.
	Seq uint64
	// Method and Path are the request's; the path never holds the key.
	Method, Path string
}

func (e *Error) Error() string {
	return fmt.Sprintf("auth: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is reports whether target is the sentinel of e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrBehind:
		return e.StatusCode == http.StatusConflict
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable || e.StatusCode == http.StatusBadGateway || e.StatusCode == http.StatusGatewayTimeout
	}
	return false
}

// emptyName is the error for an empty name, which no route takes: it is
// refused here rather than sent to become a 404.
func emptyName(what string) error {
	return fmt.Errorf("auth: %s name is empty: %w", what, ErrBadRequest)
}
