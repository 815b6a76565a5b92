package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
)

// ErrNoRecord means an execution's history holds no deployment record (it
// has not passed Preflight, or the history is not available).
var ErrNoRecord = errors.New("no deployment record in the execution history")

// RunningDeployment is the deployment that holds the listener now.
type RunningDeployment struct {
	Execution Execution `json:"execution"`
	Record    Record    `json:"record"`
	// Source says where the record came from: "history" (the execution's
	// own state, the source of truth) or "tags" (the listener's mirror,
	// used only when the history holds no record).
	Source string `json:"source"`
}

// FindRunning returns the deployment holding the listener among the RUNNING
// executions of the state machine: the lock holder (see Holder). It is false
// when none is running.
//
// The record comes from the holder's history (the source of truth) or, when
// the history holds none, from the listener tags Preflight wrote, provided
// they name the holder. When neither has it, FindRunning returns the holder
// (found is true) with an error wrapping ErrNoRecord: the holder has not
// passed Preflight, so it has not moved traffic.
func FindRunning(ctx context.Context, execs Executions, r Router, stateMachineARN string) (RunningDeployment, bool, error) {
	running, err := execs.Running(ctx, stateMachineARN)
	if err != nil {
		return RunningDeployment{}, false, err
	}
	h, ok := Holder(running)
	if !ok {
		return RunningDeployment{}, false, nil
	}
	rec, err := execs.Record(ctx, h.ARN)
	if err == nil {
		return RunningDeployment{Execution: h, Record: rec, Source: "history"}, true, nil
	}
	if !errors.Is(err, ErrNoRecord) {
		return RunningDeployment{}, false, err
	}
	tags, err := r.Tags(ctx)
	if err != nil {
		return RunningDeployment{}, false, err
	}
	rec, err = recordFromTags(tags, h)
	if err != nil {
		return RunningDeployment{Execution: h}, true, err
	}
	return RunningDeployment{Execution: h, Record: rec, Source: "tags"}, true, nil
}

// FindUnrestored returns a deployment whose execution ended without
// finishing (ABORTED, FAILED, TIMED_OUT) while the listener tags still name
// it. Restore clears those tags once the weights are back, and Finalize
// clears them on success, so such tags mean the stable colour was never
// restored: typically a rollback that stopped the execution and then failed
// to restore (a throttled ModifyListener), redelivered by Lambda's
// asynchronous retry, or an execution stopped by hand mid-shift. A
// SUCCEEDED execution is never returned: after completion the new colour is
// stable. It is false when the tags name no execution, or a running one
// (FindRunning's case).
func FindUnrestored(ctx context.Context, execs Executions, r Router) (RunningDeployment, bool, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return RunningDeployment{}, false, err
	}
	arn := tags[TagExecution]
	if arn == "" {
		return RunningDeployment{}, false, nil
	}
	x, err := execs.Describe(ctx, arn)
	if err != nil {
		if CodeOf(err) == InvalidInput {
			// The execution no longer exists (or the tag is not an ARN):
			// nothing to tie the tags to.
			return RunningDeployment{}, false, nil
		}
		return RunningDeployment{}, false, err
	}
	if x.Status == Running || x.Status == Succeeded {
		return RunningDeployment{}, false, nil
	}
	rec, err := execs.Record(ctx, arn)
	if err == nil {
		return RunningDeployment{Execution: x, Record: rec, Source: "history"}, true, nil
	}
	if !errors.Is(err, ErrNoRecord) {
		return RunningDeployment{}, false, err
	}
	rec, err = recordFromTags(tags, x)
	if err != nil {
		return RunningDeployment{}, false, err
	}
	return RunningDeployment{Execution: x, Record: rec, Source: "tags"}, true, nil
}

// FindToRollBack returns the deployment an alarm rolls back: the running
// one (FindRunning), or else one left unrestored (FindUnrestored).
func FindToRollBack(ctx context.Context, execs Executions, r Router, stateMachineARN string) (RunningDeployment, bool, error) {
	d, ok, err := FindRunning(ctx, execs, r, stateMachineARN)
	if ok || err != nil {
		return d, ok, err
	}
	return FindUnrestored(ctx, execs, r)
}

// recordFromTags rebuilds the parts of a record a restore needs from the
// listener tags Preflight wrote, provided they name execution h.
func recordFromTags(tags map[string]string, h Execution) (Record, error) {
	if tags[TagExecution] != h.ARN {
		return Record{}, fmt.Errorf("execution %s: %w, and the listener tags name execution %q", h.Name, ErrNoRecord, tags[TagExecution])
	}
	stable, before, ok := stableFromTags(tags)
	if !ok {
		return Record{}, fmt.Errorf("execution %s: %w, and the listener tags %s=%q %s=%q are not a stable split",
			h.Name, ErrNoRecord, TagStable, tags[TagStable], TagBefore, tags[TagBefore])
	}
	healthy, _ := strconv.Atoi(tags[TagStableHealthy])
	return Record{ID: tags[TagDeployment], ExecutionARN: h.ARN, Stable: stable, Candidate: stable.Other(),
		Before: before, StableHealthy: max(healthy, 0)}, nil
}

// RolledBackResult reports what StopAndRestore or RestoreIfHolder did.
type RolledBackResult struct {
	Restored Restored `json:"restored"`
	// Stopped is true when RollBack stopped the execution itself.
	Stopped bool `json:"stopped"`
	// Skipped explains why traffic was left alone, when it was.
	Skipped string `json:"skipped"`
}

// StopAndRestore is the rollback of a deployment from outside its
// execution (the alarm path and the CLI): it stops the execution if it is
// still RUNNING, so that no further Shift starts — a Shift already running
// restores by itself when it finds its execution stopped (Shift.Handle) —
// and then restores, so the last write is a restore whatever the
// interleaving. d's status is the one FindRunning or FindUnrestored just
// read: no second DescribeExecution on the way to the stop.
func StopAndRestore(ctx context.Context, log *slog.Logger, execs Executions, r Router, d RunningDeployment, cause string) (RolledBackResult, error) {
	stopped, err := StopIfRunning(ctx, log, execs, d.Execution, cause)
	if err != nil {
		return RolledBackResult{}, err
	}
	restored, err := Restore(ctx, log, r, d.Record)
	return RolledBackResult{Restored: restored, Stopped: stopped}, err
}

// RestoreIfHolder is the rollback of the state machine's own Rollback
// state, whose execution is running it: it restores only if this execution
// holds the listener. An execution that lost the lock never moved traffic
// and must not undo the holder's.
func RestoreIfHolder(ctx context.Context, log *slog.Logger, execs Executions, r Router, rec Record) (RolledBackResult, error) {
	var res RolledBackResult
	holder, err := lockHolder(ctx, execs, rec.ExecutionARN, func() (Execution, error) { return execs.Describe(ctx, rec.ExecutionARN) })
	if err != nil {
		return res, err
	}
	if holder.ARN != rec.ExecutionARN {
		res.Skipped = fmt.Sprintf("execution %s holds the listener; this execution never moved traffic", holder.Name)
		log.Info("rollback leaves traffic alone", "deployment", rec.ID, "reason", res.Skipped)
		return res, nil
	}
	res.Restored, err = Restore(ctx, log, r, rec)
	return res, err
}

// StopIfRunning stops x, with error RolledBack and cause, if its status
// says it is RUNNING. A Stop that fails because the execution ended
// meanwhile (a duplicate alarm's invocation stopped it first) is not an
// error. It reports whether it stopped the execution.
func StopIfRunning(ctx context.Context, log *slog.Logger, execs Executions, x Execution, cause string) (bool, error) {
	if x.Status != Running {
		return false, nil
	}
	if err := execs.Stop(ctx, x.ARN, string(RolledBack), cause); err != nil {
		again, derr := execs.Describe(ctx, x.ARN)
		if derr != nil || again.Status == Running {
			return false, err
		}
		log.Info("execution ended while being stopped", "execution", x.Name, "status", again.Status)
		return false, nil
	}
	log.Info("stopped execution", "execution", x.Name, "cause", cause)
	return true, nil
}
