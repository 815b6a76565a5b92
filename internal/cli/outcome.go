package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/statedoc"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// The results of a deployment, as deploy reports them.
const (
	resultPromoted   = "promoted"
	resultRolledBack = "rolled_back"
	resultFailed     = "failed"
	resultRefused    = "refused"
	resultRunning    = "running"
)

// exitCode is the exit code of a result: the contract CI relies on.
func exitCode(result string) int {
	switch result {
	case resultPromoted:
		return ExitOK
	case resultRolledBack:
		return ExitRolledBack
	case resultRefused:
		return ExitRefused
	}
	return ExitFailed
}

// outcome is deploy's result; --output json prints it.
type outcome struct {
	Deployment   string `json:"deployment"`
	ExecutionARN string `json:"executionArn,omitempty"`
	Console      string `json:"console,omitempty"`
	Version      string `json:"version"`
	Commit       string `json:"commit,omitempty"`
	// Attached is true when the execution existed before this command.
	Attached bool `json:"attached"`
	// Status is the execution's status (RUNNING, SUCCEEDED, FAILED,
	// ABORTED, TIMED_OUT), or NOT_STARTED when deploy refused to start.
	Status string `json:"status"`
	// Result is promoted, rolled_back, failed, refused or running.
	Result   string `json:"result"`
	ExitCode int    `json:"exitCode"`
	// Reason says why it was rolled back, refused or failed.
	Reason string `json:"reason,omitempty"`
	// Error and Cause are the execution's, as Step Functions reports them.
	Error           string          `json:"error,omitempty"`
	Cause           string          `json:"cause,omitempty"`
	Verdict         []string        `json:"verdictReasons,omitempty"`
	Weights         *deploy.Weights `json:"weights,omitempty"`
	HeldBy          string          `json:"heldBy,omitempty"`
	StartedAt       *time.Time      `json:"startedAt,omitempty"`
	StoppedAt       *time.Time      `json:"stoppedAt,omitempty"`
	DurationSeconds float64         `json:"durationSeconds,omitempty"`
}

func (o *outcome) classified(result, reason string) {
	o.Result, o.ExitCode, o.Reason = result, exitCode(result), reason
}

// classify decides the result of an execution from its status and error
// (DescribeExecution, the source of truth) and what its history showed.
//
//   - SUCCEEDED: promoted.
//   - error DeploymentInProgress (Preflight has no Catch): refused.
//   - error RolledBack (the Fail state after Rollback, or StopExecution by
//     the rollback function): rolled back — unless what was caught was
//     DeploymentInProgress (a Shift that lost the lock), which is a refusal.
//   - anything else that ended (another error, TIMED_OUT, ABORTED without
//     RolledBack): failed.
func classify(det stepfn.Detail, f facts) string {
	switch {
	case det.Status == deploy.Running:
		return resultRunning
	case det.Status == "SUCCEEDED":
		return resultPromoted
	case det.Error == string(deploy.DeploymentInProgress):
		return resultRefused
	case det.Error == string(deploy.RolledBack):
		if f.Caught != nil && f.Caught.Error == string(deploy.DeploymentInProgress) {
			return resultRefused
		}
		return resultRolledBack
	}
	return resultFailed
}

// explain fills o from the execution as it ended (or as it stood when the
// CLI stopped waiting) and prints the report.
func (o *outcome) explain(det stepfn.Detail, p *progress, waitErr error) {
	f := p.f
	o.Status, o.Error, o.Cause = string(det.Status), det.Error, det.Cause
	o.StartedAt, o.StoppedAt = timePtr(det.Started), timePtr(det.Stopped)
	o.Weights = f.Weights
	end := det.Stopped
	if end.IsZero() {
		end = p.now()
	}
	if !det.Started.IsZero() {
		o.DurationSeconds = end.Sub(det.Started).Round(time.Second).Seconds()
	}
	took := span(end.Sub(det.Started))
	rolledBackByVerdict := f.Verdict != nil && f.Verdict.Verdict == deploy.VerdictRollback
	if rolledBackByVerdict {
		o.Verdict = f.Verdict.Reasons
	}
	console := [2]string{"console", o.Console}
	// The execution's cause, without the error name it may start with (a
	// function's error document).
	cause := oneLine(statedoc.Caught{Error: det.Error, Cause: det.Cause}.Message(), 600)

	result := classify(det, f)
	switch result {
	case resultRunning:
		why := "stopped waiting"
		var te *timeoutError
		switch {
		case errors.As(waitErr, &te):
			why = fmt.Sprintf("stopped waiting after %s (--timeout)", span(te.after))
		case errors.Is(waitErr, context.Canceled):
			why = "stopped waiting (interrupted)"
		case waitErr != nil:
			why = "stopped waiting: " + waitErr.Error()
		}
		o.classified(result, why+"; the deployment goes on")
		details := [][2]string{console}
		if p.cur.name != "" {
			details = append([][2]string{{"state", p.cur.name}}, details...)
		}
		p.report(end, "STILL RUNNING", yellow, o.Reason, details)

	case resultPromoted:
		headline := fmt.Sprintf("%s promoted after %s", o.Version, took)
		if s := f.Summary; s != nil {
			headline = fmt.Sprintf("%s is live on %s (%s) after %s", s.Version, s.To, s.Weights, took)
			if s.DryRun {
				headline = fmt.Sprintf("dry run of %s finished after %s; traffic was not changed", s.Version, took)
			}
		}
		o.classified(result, headline)
		p.report(end, "PROMOTED", green, headline, [][2]string{console})

	case resultRefused:
		why := cause
		if f.Caught != nil && f.Caught.Error == string(deploy.DeploymentInProgress) {
			why = f.Caught.Message()
		}
		o.classified(result, "another deployment holds the listener: "+why)
		p.report(end, "REFUSED", yellow, o.Reason, [][2]string{
			{"traffic", "unchanged by this deployment"},
			{"next", "re-run when the other deployment has finished (relayshift status shows it); this id now needs --attempt 2"},
			console,
		})

	case resultRolledBack:
		reason := cause
		var details [][2]string
		switch {
		case det.Status == "ABORTED":
			// The rollback function stopped the execution (alarm path).
			// The rollback function (alarm path) or relayshift rollback
			// stopped the execution, then restored the weights.
			details = append(details, [2]string{"stopped", fmt.Sprintf("in %s, by StopExecution with error RolledBack", orDash(p.cur.name))},
				[2]string{"traffic", "restored to the stable colour by whoever stopped it (check: relayshift status)"})
		case rolledBackByVerdict:
			reason = "verdict rollback: " + joinOr(f.Verdict.Reasons, cause)
		case f.Caught != nil:
			reason = fmt.Sprintf("%s failed: %s", f.Caught.State, oneLine(f.Caught.String(), 600))
		}
		if r := f.Rollback; r != nil {
			details = append(details, [2]string{"traffic", statedoc.Traffic(*r)})
			for _, w := range r.Warnings {
				details = append(details, [2]string{"WARNING", w})
			}
		}
		if cause != "" && reason != cause {
			details = append(details, [2]string{"cause", cause})
		}
		o.classified(result, reason)
		p.report(end, "ROLLED BACK", red, fmt.Sprintf("%s rolled back after %s: %s", o.Version, took, reason), append(details, console))

	default:
		what := fmt.Sprintf("execution %s", det.Status)
		switch {
		case det.Error != "":
			what += " with " + oneLine(statedoc.Failure(det.Error, det.Cause), 600)
		case cause != "":
			what += ": " + cause
		}
		if det.Status == "ABORTED" && det.Error == "" {
			what += " (stopped without an error: by hand, not by relayshift)"
		}
		o.classified(result, what)
		traffic := "may not be back on the stable colour: check relayshift status, then relayshift rollback if needed"
		if f.Record == nil {
			traffic = "unchanged: the deployment ended before Preflight recorded it"
		}
		p.report(end, "FAILED", red, what, [][2]string{{"traffic", traffic}, console})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOr(parts []string, def string) string {
	if len(parts) == 0 {
		return def
	}
	s := parts[0]
	for _, p := range parts[1:] {
		s += "; " + p
	}
	return s
}

// timeoutError is returned by the follower when --timeout elapses.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("still running after %s", e.after) }

// follower polls an execution until it ends.
type follower struct {
	ctl     *stepfn.Control
	hist    *stepfn.History
	p       *progress
	env     *Env
	poll    time.Duration
	timeout time.Duration
}

// maxPollErrors is how many consecutive polls may fail (after the SDK's own
// retries) before the CLI gives up following.
const maxPollErrors = 5

// run follows the execution: each poll describes it, then reads the new
// history events and renders them; it returns when the execution has ended
// (DescribeExecution says so, and the history read after it holds every
// event), when --timeout elapses, or when ctx is done.
func (f *follower) run(ctx context.Context, det stepfn.Detail) (stepfn.Detail, error) {
	began := f.env.Now()
	failures := 0
	for {
		d, err := f.ctl.Detail(ctx, det.ARN)
		var evs []stepfn.Event
		if err == nil {
			evs, err = f.hist.Next(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return det, ctx.Err()
			}
			failures++
			if failures >= maxPollErrors {
				return det, fmt.Errorf("%d polls in a row failed, last: %w", failures, err)
			}
			f.p.clearStatus()
			fmt.Fprintf(f.env.Stderr, "relayshift: warning: %v (retrying)\n", err)
		} else {
			failures = 0
			det = d
			f.p.events(evs)
			if det.Ended() {
				return det, nil
			}
		}
		if f.timeout > 0 && f.env.Now().Sub(began) >= f.timeout {
			return det, &timeoutError{after: f.timeout}
		}
		f.p.tick()
		if err := f.env.Sleep(ctx, f.poll); err != nil {
			return det, err
		}
	}
}
