package deploy

import (
	"context"
	"time"
)

// Router reads and writes the traffic split of the production listener (its
// default action, or one listener rule). Implemented by internal/alb.
type Router interface {
	// Weights returns the current weights of blue and green.
	// Errors: ListenerNotFound, ListenerMisconfigured, Throttled,
	// AccessDenied.
	Weights(ctx context.Context) (Weights, error)
	// SetWeights makes the forward action send traffic as w, writing only
	// when the current split differs, then reads the weights back. It
	// returns the weights found before. Errors: those of Weights, plus
	// WeightNotApplied, RequestRejected.
	SetWeights(ctx context.Context, w Weights) (Weights, error)
	// Tags returns the relayshift:* tags of the listener (or rule).
	Tags(ctx context.Context) (map[string]string, error)
	// Tag sets the tags in set and removes the keys in remove.
	Tag(ctx context.Context, set map[string]string, remove []string) error
}

// Targets reports the health of a colour's registered targets. Implemented
// by internal/alb.
type Targets interface {
	// Health summarises the target group of colour c.
	// Errors: TargetGroupNotFound, Throttled, AccessDenied.
	Health(ctx context.Context, c Colour) (Health, error)
}

// Health counts a target group's targets by ELBv2 health state.
type Health struct {
	Total       int `json:"total"`
	Healthy     int `json:"healthy"`
	Initial     int `json:"initial"`
	Unhealthy   int `json:"unhealthy"`
	Draining    int `json:"draining"`
	Unused      int `json:"unused"`
	Unavailable int `json:"unavailable"`
	// Reasons lists distinct reason codes of targets that are not healthy,
	// e.g. "Target.ResponseCodeMismatch".
	Reasons []string `json:"reasons"`
}

// ExecutionStatus is a Step Functions execution status.
type ExecutionStatus string

// Execution statuses relayshift tells apart.
const (
	// Running is the status of an execution that has not ended.
	Running ExecutionStatus = "RUNNING"
	// Succeeded is the status of an execution that completed.
	Succeeded ExecutionStatus = "SUCCEEDED"
)

// Execution is what relayshift needs to know about a Step Functions
// execution.
type Execution struct {
	ARN     string          `json:"arn"`
	Name    string          `json:"name"`
	Status  ExecutionStatus `json:"status"`
	Started time.Time       `json:"started"`
}

// Executions reads and stops executions of the deployment state machine.
// Implemented by internal/stepfn.
type Executions interface {
	// Describe returns one execution. Errors: InvalidInput (no such
	// execution or a malformed ARN), Throttled, AccessDenied.
	Describe(ctx context.Context, executionARN string) (Execution, error)
	// Running lists the RUNNING executions of a state machine.
	// NOTE: ListExecutions is eventually consistent (Step Functions API
	// reference); callers must not rely on seeing an execution started
	// moments ago.
	Running(ctx context.Context, stateMachineARN string) ([]Execution, error)
	// Stop stops a running execution with an error name and a cause.
	Stop(ctx context.Context, executionARN, errorName, cause string) error
	// Record returns the deployment record Preflight wrote in the
	// execution's state, or ErrNoRecord when the history holds none.
	Record(ctx context.Context, executionARN string) (Record, error)
}
