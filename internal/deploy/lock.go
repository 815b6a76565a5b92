package deploy

import (
	"context"
	"slices"
	"time"
)

// Holder returns the execution that holds the listener among the running
// ones: the earliest started, ties broken by the smaller ARN. It is false
// when running is empty.
func Holder(running []Execution) (Execution, bool) {
	var h Execution
	for i, e := range running {
		if i == 0 || e.Started.Before(h.Started) || (e.Started.Equal(h.Started) && e.ARN < h.ARN) {
			h = e
		}
	}
	return h, len(running) > 0
}

// describeRunning returns the execution, failing with ExecutionNotRunning
// when it has ended.
func describeRunning(ctx context.Context, execs Executions, arn string) (Execution, error) {
	self, err := execs.Describe(ctx, arn)
	if err != nil {
		return Execution{}, err
	}
	if self.Status != Running {
		return self, Errorf(ExecutionNotRunning, "execution %s is %s", self.Name, self.Status)
	}
	return self, nil
}

// checkLock fails with DeploymentInProgress when another running execution
// of the same state machine holds the listener. Preflight calls it to refuse
// early; Shift calls it again before every write, because ListExecutions is
// eventually consistent and two executions started within moments may not
// see each other in Preflight. By the first Shift (after release, health
// check and warm-up) both are listed, and the later one gives way.
func checkLock(ctx context.Context, execs Executions, self Execution) error {
	h, err := lockHolder(ctx, execs, self.ARN, func() (Execution, error) { return self, nil })
	if err != nil {
		return err
	}
	if h.ARN != self.ARN {
		return Errorf(DeploymentInProgress, "execution %s, started %s, holds the listener; one deployment at a time",
			h.Name, h.Started.UTC().Format(time.RFC3339))
	}
	return nil
}

// lockHolder returns the execution holding the listener among the running
// executions of arn's state machine, counting arn itself (as self returns
// it) even when ListExecutions, eventually consistent, does not list it yet.
func lockHolder(ctx context.Context, execs Executions, arn string, self func() (Execution, error)) (Execution, error) {
	sm, err := StateMachineOf(arn)
	if err != nil {
		return Execution{}, err
	}
	running, err := execs.Running(ctx, sm)
	if err != nil {
		return Execution{}, err
	}
	if !slices.ContainsFunc(running, func(e Execution) bool { return e.ARN == arn }) {
		x, err := self()
		if err != nil {
			return Execution{}, err
		}
		running = append(running, x)
	}
	h, _ := Holder(running)
	return h, nil
}
