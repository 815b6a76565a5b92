package deploy

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// ShiftInput is the payload of the Shift task.
type ShiftInput struct {
	ExecutionARN string `json:"executionArn"`
	Deployment   Record `json:"deployment"`
	// Step indexes Deployment.Plan.Steps.
	Step int `json:"step"`
}

// ShiftOutput is written under $.shift. BakeSeconds, Last and Next drive the
// state machine's loop; At starts the window Evaluate judges.
type ShiftOutput struct {
	Step        int       `json:"step"`
	Percent     int       `json:"percent"`
	Weights     Weights   `json:"weights"`
	Previous    Weights   `json:"previous"`
	Changed     bool      `json:"changed"`
	DryRun      bool      `json:"dryRun"`
	BakeSeconds int       `json:"bakeSeconds"`
	Last        bool      `json:"last"`
	Next        int       `json:"next"`
	At          time.Time `json:"at"`
}

// Shift moves traffic to step i of the plan, closed-loop: it writes only
// when the split differs, reads the weights back, refuses to send traffic to
// a candidate without healthy targets, and guards against the rollback race
// (see Handle).
type Shift struct {
	Router     Router
	Targets    Targets
	Executions Executions
	Now        func() time.Time
}

// Handle runs Shift.
//
// The rollback race: StopExecution does not stop a Lambda function that is
// already running, so the rollback function (stop, then restore) can
// interleave with a Shift. Shift checks its execution is RUNNING before it
// writes and again after; if the execution has been stopped by then, it
// restores the pre-deployment weights itself. Whatever the interleaving, the
// last write to the listener is a restore.
//
// Errors: InvalidInput, ExecutionNotRunning, DeploymentInProgress,
// CandidateUnhealthy, WeightNotApplied, and those of the ports.
func (s *Shift) Handle(ctx context.Context, log *slog.Logger, in ShiftInput) (ShiftOutput, error) {
	rec := in.Deployment
	if err := rec.ValidateFor(in.ExecutionARN); err != nil {
		return ShiftOutput{}, err
	}
	if in.Step < 0 || in.Step >= len(rec.Plan.Steps) {
		return ShiftOutput{}, Errorf(InvalidInput, "step %d outside the plan's %d steps", in.Step, len(rec.Plan.Steps))
	}
	step := rec.Plan.Steps[in.Step]
	want := Split(rec.Stable, step.Percent)
	out := ShiftOutput{
		Step: in.Step, Percent: step.Percent, Weights: want, BakeSeconds: step.BakeSeconds,
		Last: in.Step == len(rec.Plan.Steps)-1, Next: in.Step + 1, DryRun: rec.DryRun,
	}
	log = log.With("deployment", rec.ID, "step", in.Step, "percent", step.Percent)

	if rec.DryRun {
		cur, err := s.Router.Weights(ctx)
		if err != nil {
			return ShiftOutput{}, err
		}
		out.Previous, out.At = cur, s.Now().UTC()
		log.Info("dry run: would shift", "from", cur.String(), "to", want.String())
		return out, nil
	}

	self, err := describeRunning(ctx, s.Executions, rec.ExecutionARN)
	if err != nil {
		return ShiftOutput{}, err
	}
	if err := checkLock(ctx, s.Executions, self); err != nil {
		return ShiftOutput{}, err
	}
	if step.Percent > 0 {
		h, err := s.Targets.Health(ctx, rec.Candidate)
		if err != nil {
			return ShiftOutput{}, err
		}
		if h.Healthy == 0 {
			return ShiftOutput{}, Errorf(CandidateUnhealthy, "%s has no healthy targets (%d registered, %d unhealthy, %d initial); refusing to send it %d%%",
				rec.Candidate, h.Total, h.Unhealthy, h.Initial, step.Percent)
		}
	}

	log.Info("shifting", "to", want.String())
	prev, setErr := s.Router.SetWeights(ctx, want)
	if err := s.guard(ctx, log, rec); err != nil {
		return ShiftOutput{}, errors.Join(err, setErr)
	}
	if setErr != nil {
		return ShiftOutput{}, setErr
	}
	out.Previous, out.Changed, out.At = prev, !prev.Same(want), s.Now().UTC()
	log.Info("shifted", "from", prev.String(), "to", want.String(), "changed", out.Changed)
	return out, nil
}

// guard runs after every write attempt. If the execution is no longer
// RUNNING, or its status cannot be read, it restores the pre-deployment
// weights: traffic on the stable colour is the safe side of the doubt. A
// running execution whose Shift failed this way is retried or rolled back by
// the state machine.
func (s *Shift) guard(ctx context.Context, log *slog.Logger, rec Record) error {
	_, err := describeRunning(ctx, s.Executions, rec.ExecutionARN)
	if err == nil {
		return nil
	}
	log.Warn("execution not confirmed running after the write; restoring the stable colour", "error", err)
	if _, rerr := Restore(ctx, log, s.Router, rec); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}
