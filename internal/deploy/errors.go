package deploy

import (
	"errors"
	"fmt"
)

// Code is the name of an error as Step Functions sees it: the errorType of
// the Lambda function's failure, matched by Retry and Catch in the state
// machine. Codes are the API of the state machine; renaming one is a breaking
// change.
type Code string

// The error names. Retryable ones are retried by the state machine with
// backoff; the others fail the task (and, after Preflight, roll back).
const (
	// InvalidInput: the execution input or a function payload is malformed
	// or invalid. Nothing was touched.
	InvalidInput Code = "InvalidInput"
	// InvalidConfig: the function's environment is incomplete or invalid.
	InvalidConfig Code = "InvalidConfig"
	// DeploymentInProgress: another deployment holds the listener.
	DeploymentInProgress Code = "DeploymentInProgress"
	// ListenerNotFound: the configured listener or rule does not exist.
	ListenerNotFound Code = "ListenerNotFound"
	// TargetGroupNotFound: a configured target group does not exist.
	TargetGroupNotFound Code = "TargetGroupNotFound"
	// ListenerMisconfigured: the listener's forward action does not forward
	// to the blue and green target groups only, or forwards to neither.
	ListenerMisconfigured Code = "ListenerMisconfigured"
	// CandidateUnhealthy: the candidate colour has unhealthy targets, or none
	// healthy, so it must not receive traffic.
	CandidateUnhealthy Code = "CandidateUnhealthy"
	// TargetsNotReady: the candidate's targets are still in their initial
	// health checks (retryable).
	TargetsNotReady Code = "TargetsNotReady"
	// WarmupFailed: the LLM-aware warm-up of the candidate failed.
	WarmupFailed Code = "WarmupFailed"
	// ReleaseFailed: putting the new version on the candidate colour failed.
	ReleaseFailed Code = "ReleaseFailed"
	// WeightNotApplied: the listener's weights read back differ from the ones
	// written.
	WeightNotApplied Code = "WeightNotApplied"
	// ExecutionNotRunning: the execution this task belongs to is no longer
	// RUNNING (it was stopped, typically by the rollback function).
	ExecutionNotRunning Code = "ExecutionNotRunning"
	// Throttled: AWS throttled a call even after the SDK's retries
	// (retryable).
	Throttled Code = "Throttled"
	// AccessDenied: AWS refused a call for lack of permission.
	AccessDenied Code = "AccessDenied"
	// RequestRejected: AWS rejected a request as invalid.
	RequestRejected Code = "RequestRejected"
	// RolledBack: the deployment was rolled back (the state machine's Fail
	// state and the CLI use it).
	RolledBack Code = "RolledBack"
	// InternalError: anything not classified above.
	InternalError Code = "InternalError"
)

// Codes lists every error name, for parity checks against the state machine
// definition.
func Codes() []Code {
	return []Code{
		InvalidInput, InvalidConfig, DeploymentInProgress, ListenerNotFound,
		TargetGroupNotFound, ListenerMisconfigured, CandidateUnhealthy,
		TargetsNotReady, WarmupFailed, ReleaseFailed, WeightNotApplied,
		ExecutionNotRunning, Throttled, AccessDenied, RequestRejected,
		RolledBack, InternalError,
	}
}

// Retryable reports whether the state machine retries a task that failed
// with c.
func (c Code) Retryable() bool {
	return c == TargetsNotReady || c == Throttled
}

// Error is a classified error: a Code plus a message, optionally wrapping
// the cause.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

// Errorf returns an *Error with code and a formatted message. A %w verb in
// format wraps its operand, as with fmt.Errorf.
func Errorf(code Code, format string, args ...any) error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Code: code, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

func (e *Error) Error() string {
	return string(e.Code) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the code of the outermost *Error in err's chain, or
// InternalError when there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalError
}
