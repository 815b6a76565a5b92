package statemachine

import (
	"fmt"
)

// Error names the engine raises itself.
const (
	ErrAll                 = "States.ALL"
	ErrRuntime             = "States.Runtime"
	ErrNoChoiceMatched     = "States.NoChoiceMatched"
	ErrResultPathMatch     = "States.ResultPathMatchFailure"
	ErrDataLimitExceeded   = "States.DataLimitExceeded"
	errLambdaUnknown       = "Lambda.Unknown"
	errLambdaSdkClient     = "Lambda.SdkClientException"
	errLambdaServicePrefix = "Lambda."
)

// stateError is an error raised while a state runs: its name is what
// Retry and Catch match, its cause what the history and the catcher's
// error output show.
type stateError struct {
	Name  string
	Cause string
}

func (e *stateError) Error() string { return e.Name + ": " + e.Cause }

// matches reports whether a retrier's or catcher's ErrorEquals list matches
// the error name.
// NOTE: "States.ALL ... can't catch the States.DataLimitExceeded terminal
// error or Runtime error types" (developer guide, Handling errors in Step
// Functions workflows); the other States.* names in ErrorEquals are
// refused at load (features.go).
// A States.Runtime error "isn't retriable, and will always cause the
// execution to fail" (same page), whatever the list names.
func matches(errorEquals []string, name string) bool {
	if name == ErrRuntime || name == ErrDataLimitExceeded {
		return false
	}
	for _, e := range errorEquals {
		if e == name || e == ErrAll {
			return true
		}
	}
	return false
}

// UnsupportedError reports a definition that uses an ASL feature the lab's
// engine does not implement. The lab refuses such a definition at load
// rather than running it differently from AWS.
type UnsupportedError struct {
	// Where names the state (and field) that uses the feature, e.g.
	// `state "Fanout"`.
	Where string
	// Feature names the feature, e.g. "the Parallel state type".
	Feature string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %s is not supported by the lab's Step Functions engine", e.Where, e.Feature)
}

func unsupported(where, feature string) error {
	return &UnsupportedError{Where: where, Feature: feature}
}

// causeError carries an error cause worded as AWS words it (capitalized,
// with a final period), for the history.
type causeError string

func (e causeError) Error() string { return string(e) }

func causef(format string, args ...any) error { return causeError(fmt.Sprintf(format, args...)) }
