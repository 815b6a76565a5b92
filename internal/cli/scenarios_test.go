package cli_test

import (
	"encoding/json"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

// The scenarios, by the version deployed. Each scripts the history the
// deployment state machine (docs/architecture.md) writes on AWS, state by
// state, with the documented state outputs.
const (
	vPromoted        = "v2.4.0" // canary to promotion
	vAlarm           = "v2.5.0" // the rollback function stops it during the bake (alarm path)
	vVerdict         = "v2.6.0" // Evaluate says rollback; Rollback state; Fail RolledBack
	vUnhealthy       = "v2.7.0" // HealthCheck retried, then CandidateUnhealthy caught; rolled back
	vRefused         = "v2.8.0" // Preflight refuses: DeploymentInProgress, no Catch
	vLostLock        = "v2.9.0" // a Shift loses the lock: caught DeploymentInProgress, rolled back with traffic left alone
	vFailed          = "v3.0.0" // Preflight fails with ListenerMisconfigured (no Catch)
	vTimedOut        = "v3.1.0" // the execution times out
	vAbortedByHand   = "v3.2.0" // stopped from the console, without an error
	vRunning         = "v3.3.0" // still in its bake a long time
	alarmCause       = `alarm relay-green-5xx-rate went into ALARM: Threshold Crossed: 1 out of the last 1 datapoints [7.5 (27/11/26 10:06:00)] was greater than the threshold (5.0). Traffic restored to blue=100,green=0.`
	rolledBackCause  = "the deployment was rolled back; traffic is on the stable colour"
	otherHolderError = "execution relay-v2.3.0-1a2b3c4, started 2026-11-27T09:58:00Z, holds the listener; one deployment at a time"
)

// scenarios is the fake's Scenario hook.
func scenarios(x *stepfntest.Execution, s *stepfntest.Script) {
	var req deploy.Request
	if json.Unmarshal([]byte(x.Input), &req) != nil {
		return
	}
	rec := recordFor(x, req)
	switch req.Version {
	case vPromoted:
		canary(s, rec)
		shift(s, rec, 1, 60*time.Second)
		s.Wait("PostPromotionBake", 60*time.Second)
		s.Task("FinalEvaluate", time.Second, "verdict", verdict("promote", "candidate 5xx 0.02% over 2918 requests, stable none; p99 0.93s"))
		s.Choice("AfterFinalEvaluate")
		s.Task("Finalize", time.Second, "summary", deploy.Summary{
			ID: rec.ID, Version: rec.Version, From: rec.Stable, To: rec.Candidate, Weights: deploy.Split(rec.Stable, 100),
			Strategy: rec.Plan.Strategy, Steps: []int{10, 100}, StartedAt: rec.StartedAt,
		})
		s.Succeeded("Promoted")
	case vAlarm:
		preflightToWarmUp(s, rec)
		shift(s, rec, 0, 300*time.Second)
		s.Enter("Wait", "Bake").Elapse(97*time.Second).Stop(string(deploy.RolledBack), alarmCause)
	case vVerdict:
		preflightToWarmUp(s, rec)
		shift(s, rec, 0, 300*time.Second)
		s.Wait("Bake", 300*time.Second)
		s.Task("Evaluate", time.Second, "verdict", verdict("rollback",
			"candidate 5xx rate 5.10% (21 of 412 requests) is above 1.00% and 0.10% (stable) + 1.00%",
			"candidate p99 2.41s is above 2.00s and 1.5 x stable p99 0.88s"))
		s.Choice("Decide")
		rollbackState(s, rec, false, false)
	case vUnhealthy:
		s.Elapse(time.Second).Task("Preflight", time.Second, "preflight", rec)
		s.Task("Release", 2*time.Second, "release", map[string]any{"mode": "external", "status": "ready"})
		s.Enter("Task", "HealthCheck").
			Fail(time.Second, "TargetsNotReady", "green: 0 of 2 targets healthy (2 initial: Elb.InitialHealthChecking)").Elapse(5*time.Second).
			Fail(time.Second, "TargetsNotReady", "green: 0 of 2 targets healthy (2 initial: Elb.InitialHealthChecking)").Elapse(10*time.Second).
			Fail(time.Second, "CandidateUnhealthy", "green has 2 unhealthy targets (Target.ResponseCodeMismatch)").
			Catch("error")
		rollbackState(s, rec, true, false)
	case vRefused:
		s.Elapse(time.Second).Enter("Task", "Preflight").
			Fail(time.Second, string(deploy.DeploymentInProgress), otherHolderError).Uncaught()
	case vLostLock:
		preflightToWarmUp(s, rec)
		s.Enter("Task", "Shift").Fail(time.Second, string(deploy.DeploymentInProgress), otherHolderError).Catch("error")
		rollbackState(s, rec, true, true)
	case vFailed:
		s.Elapse(time.Second).Enter("Task", "Preflight").
			Fail(time.Second, string(deploy.ListenerMisconfigured), "listener forwards to arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/legacy/0123456789abcdef, which is neither the blue nor the green target group").
			Uncaught()
	case vTimedOut:
		preflightToWarmUp(s, rec)
		shift(s, rec, 0, 300*time.Second)
		s.Enter("Wait", "Bake").Elapse(200 * time.Second).TimedOut()
	case vAbortedByHand:
		preflightToWarmUp(s, rec)
		shift(s, rec, 0, 300*time.Second)
		s.Enter("Wait", "Bake").Elapse(30*time.Second).Stop("", "")
	case vRunning:
		preflightToWarmUp(s, rec)
		shift(s, rec, 0, 3600*time.Second)
		s.Enter("Wait", "Bake")
	}
}

// recordFor is the record Preflight writes for the execution: blue stable.
func recordFor(x *stepfntest.Execution, req deploy.Request) deploy.Record {
	plan, err := req.Plan(deploy.Strategy{Preset: deploy.Canary10Percent5Minutes, Steps: []int{10, 100}, BakeSeconds: 300})
	if err != nil {
		panic(err)
	}
	return deploy.Record{
		ID: x.Name, ExecutionARN: x.ARN, Version: req.Version, Image: req.Image, Commit: req.Commit,
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 100},
		Plan: plan, DryRun: req.DryRun, StartedAt: x.Started.Add(time.Second),
	}
}

func verdict(v string, reasons ...string) map[string]any {
	return map[string]any{"verdict": v, "reasons": reasons}
}

// preflightToWarmUp scripts everything before the first shift.
func preflightToWarmUp(s *stepfntest.Script, rec deploy.Record) {
	s.Elapse(time.Second).Task("Preflight", time.Second, "preflight", rec)
	s.Task("Release", 2*time.Second, "release", map[string]any{"mode": "external", "status": "ready"})
	s.Task("HealthCheck", time.Second, "health", map[string]any{"colour": "green", "healthy": 2, "total": 2})
	s.Task("WarmUp", 8*time.Second, "warmup", map[string]any{"requests": 24, "failures": 0, "streamed": 8, "p99Ms": 912})
	s.Pass("StartShifting", "shift", map[string]int{"next": 0})
}

// canary scripts a healthy first step, through its evaluation.
func canary(s *stepfntest.Script, rec deploy.Record) {
	preflightToWarmUp(s, rec)
	shift(s, rec, 0, 300*time.Second)
	s.Wait("Bake", 300*time.Second)
	s.Task("Evaluate", time.Second, "verdict", verdict("continue", "candidate 5xx 0.00% over 412 requests, stable 0.05%; p99 0.91s vs 0.88s"))
	s.Choice("Decide")
}

// shift scripts the Shift task for step i.
func shift(s *stepfntest.Script, rec deploy.Record, i int, bake time.Duration) {
	st := rec.Plan.Steps[i]
	prev := rec.Before
	if i > 0 {
		prev = deploy.Split(rec.Stable, rec.Plan.Steps[i-1].Percent)
	}
	s.Task("Shift", time.Second, "shift", deploy.ShiftOutput{
		Step: i, Percent: st.Percent, Weights: deploy.Split(rec.Stable, st.Percent), Previous: prev, Changed: true,
		BakeSeconds: int(bake / time.Second), Last: i == len(rec.Plan.Steps)-1, Next: i + 1,
		At: rec.StartedAt.Add(s.At()),
	})
}

// rollbackState scripts the Rollback task and the Fail state.
// It restores from the canary's weights, or finds the listener untouched
// (untouched), or leaves traffic alone (skipped: the lock was lost).
func rollbackState(s *stepfntest.Script, rec deploy.Record, untouched, skipped bool) {
	restored := deploy.Restored{From: deploy.Split(rec.Stable, 10), To: rec.Before, Changed: true}
	if untouched {
		restored = deploy.Restored{From: rec.Before, To: rec.Before}
	}
	out := map[string]any{
		"source": "pipeline", "reason": "",
		"restored": restored,
		"stopped":  false, "skipped": "",
	}
	if skipped {
		out["restored"] = deploy.Restored{}
		out["skipped"] = "execution relay-v2.3.0-1a2b3c4 holds the listener; this execution never moved traffic"
	}
	s.Task("Rollback", time.Second, "rollback", out)
	s.FailState("RolledBack", string(deploy.RolledBack), rolledBackCause)
}
