package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	rec, err = recordFromTags(ctx, r, h)
	if err != nil {
		return RunningDeployment{Execution: h}, true, err
	}
	return RunningDeployment{Execution: h, Record: rec, Source: "tags"}, true, nil
}

// recordFromTags rebuilds the parts of a record a restore needs from the
// listener tags Preflight wrote, provided they name execution h.
func recordFromTags(ctx context.Context, r Router, h Execution) (Record, error) {
	tags, err := r.Tags(ctx)
	if err != nil {
		return Record{}, err
	}
	if tags[TagExecution] != h.ARN {
		return Record{}, fmt.Errorf("execution %s: %w, and the listener tags name execution %q", h.Name, ErrNoRecord, tags[TagExecution])
	}
	stable := Colour(tags[TagStable])
	before, err := ParseWeights(tags[TagBefore])
	if sole, ok := before.Sole(); err != nil || !ok || sole != stable {
		return Record{}, fmt.Errorf("execution %s: %w, and the listener tags %s=%q %s=%q are not a stable split",
			h.Name, ErrNoRecord, TagStable, tags[TagStable], TagBefore, tags[TagBefore])
	}
	return Record{ID: tags[TagDeployment], ExecutionARN: h.ARN, Stable: stable, Candidate: stable.Other(), Before: before}, nil
}

// RolledBackResult reports what RollBack did.
type RolledBackResult struct {
	Restored Restored `json:"restored"`
	// Stopped is true when RollBack stopped the execution itself.
	Stopped bool `json:"stopped"`
	// Skipped explains why traffic was left alone, when it was.
	Skipped string `json:"skipped"`
}

// RollBack puts the listener back on the deployment's stable colour.
//
// With stop (the alarm path and the CLI) it first stops the execution if it
// is still RUNNING, so that no further Shift starts; a Shift already running
// restores by itself when it finds its execution stopped (Shift.Handle).
// Then it restores, so the last write is a restore whatever the interleaving.
//
// Without stop (the state machine's own Rollback state, whose execution is
// running it), it restores only if this execution holds the listener: an
// execution that lost the lock never moved traffic and must not undo the
// holder's.
func RollBack(ctx context.Context, log *slog.Logger, execs Executions, r Router, rec Record, stop bool, cause string) (RolledBackResult, error) {
	var res RolledBackResult
	if stop {
		x, err := execs.Describe(ctx, rec.ExecutionARN)
		if err != nil {
			return res, err
		}
		if x.Status == Running {
			if err := execs.Stop(ctx, rec.ExecutionARN, string(RolledBack), cause); err != nil {
				return res, err
			}
			res.Stopped = true
			log.Info("stopped execution", "deployment", rec.ID, "execution", x.Name, "cause", cause)
		}
	} else {
		sm, err := StateMachineOf(rec.ExecutionARN)
		if err != nil {
			return res, err
		}
		running, err := execs.Running(ctx, sm)
		if err != nil {
			return res, err
		}
		if h, ok := Holder(running); ok && h.ARN != rec.ExecutionARN {
			res.Skipped = fmt.Sprintf("execution %s holds the listener; this execution never moved traffic", h.Name)
			log.Info("rollback leaves traffic alone", "deployment", rec.ID, "reason", res.Skipped)
			return res, nil
		}
	}
	restored, err := Restore(ctx, log, r, rec)
	res.Restored = restored
	return res, err
}
