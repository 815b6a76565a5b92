package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/relayprobe"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

// The scenarios, by the version deployed. Each scripts the history the
// deployment state machine writes on AWS, state by state, with the state
// names of infra/statemachine/deploy.asl.json and the outputs of the real
// functions' Go types; the fake checks each script against the definition
// (stepfntest.Script) and keeps of each output what the state's
// ResultSelector keeps. The verdicts come from the real Evaluate, the
// rollback outputs from the real rollback function, both on in-memory fakes.
const (
	vPromoted      = "v2.4.0" // canary to promotion
	vAlarm         = "v2.5.0" // the rollback function stops it during the bake (alarm path)
	vVerdict       = "v2.6.0" // Evaluate says rollback; Roll back; Fail RolledBack
	vUnhealthy     = "v2.7.0" // health check retried, then CandidateUnhealthy caught; rolled back
	vRefused       = "v2.8.0" // Preflight refuses: DeploymentInProgress, no Catch
	vLostLock      = "v2.9.0" // a Shift loses the lock: caught DeploymentInProgress, rolled back with traffic left alone
	vFailed        = "v3.0.0" // Preflight fails with ListenerMisconfigured (no Catch)
	vTimedOut      = "v3.1.0" // the execution times out
	vAbortedByHand = "v3.2.0" // stopped from the console, without an error
	vRunning       = "v3.3.0" // still in its bake
)

const (
	// otherHolder holds the listener in the refused scenarios.
	otherHolder   = "relay-v2.3.0-1a2b3c4"
	listenerARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/0123456789abcdef/fedcba9876543210"
	alarmPrefix   = "relayshift-relay-"
	greenService  = "relay-green"
	taskDefBefore = "arn:aws:ecs:us-east-1:123456789012:task-definition/relay:42"
	taskDefAfter  = "arn:aws:ecs:us-east-1:123456789012:task-definition/relay:43"
)

// definition is the state machine the fake checks every script against.
func definition(t *testing.T) *stepfntest.Definition {
	t.Helper()
	d, err := stepfntest.LoadDefinition("../../infra/statemachine/deploy.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// scenarios is the fake's Scenario hook.
func scenarios(x *stepfntest.Execution, s *stepfntest.Script) {
	var req deploy.Request
	if json.Unmarshal([]byte(x.Input), &req) != nil {
		return
	}
	sc := &scene{x: x, s: s, rec: recordFor(x, req)}
	switch req.Version {
	case vPromoted:
		sc.toShifting()
		sc.shift(0)
		sc.bake(0)
		sc.evaluate("Evaluate step", healthy)
		s.Choice("Step verdict")
		sc.shift(1)
		s.Wait("Post-promotion bake", sc.bakeOf(1))
		sc.evaluate("Final evaluation", healthy)
		s.Choice("Promotion verdict")
		s.Task("Finalize", time.Second, "summary", deploy.Summary{
			ID: sc.rec.ID, Version: sc.rec.Version, From: sc.rec.Stable, To: sc.rec.Candidate, Weights: deploy.Split(sc.rec.Stable, 100),
			Strategy: sc.rec.Plan.Strategy, Steps: []int{10, 100}, StartedAt: sc.rec.StartedAt, FinishedAt: sc.now(),
			DurationSeconds: sc.now().Sub(sc.rec.StartedAt).Seconds(),
		})
		s.Succeeded("Promoted")
	case vAlarm:
		sc.toShifting()
		sc.shift(0)
		s.Enter("Wait", "Bake step").Elapse(97*time.Second).Stop(string(deploy.RolledBack),
			"relayshift rolled back deployment "+sc.rec.ID+": alarm "+alarmPrefix+"green-5xx-rate went into ALARM (Threshold Crossed: 1 out of the last 1 datapoints [7.5 (27/11/26 10:06:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).)")
	case vVerdict:
		sc.toShifting()
		sc.shift(0)
		sc.bake(0)
		v := sc.evaluate("Evaluate step", failing)
		s.Choice("Step verdict")
		reasons, _ := json.Marshal(v.Reasons)
		// The Pass state's States.Format of the definition.
		caught := map[string]string{"Error": string(deploy.CandidateUnhealthy),
			"Cause": fmt.Sprintf("evaluation at %d%% on the candidate decided rollback: %s", 10, reasons)}
		s.Pass("Verdict is rollback", "error", caught)
		sc.rollBack(caught, deploy.Split(sc.rec.Stable, 10), false)
	case vUnhealthy:
		sc.preflight()
		sc.release()
		notReady := deploy.Errorf(deploy.TargetsNotReady, "green target group has targets in their initial health checks (2 registered: 0 healthy, 2 initial, 0 unhealthy, 0 draining, 0 unused, 0 unavailable; reasons Elb.InitialHealthChecking)")
		unhealthy := deploy.Errorf(deploy.CandidateUnhealthy, "green target group has unhealthy targets (2 registered: 0 healthy, 0 initial, 2 unhealthy, 0 draining, 0 unused, 0 unavailable; reasons Target.ResponseCodeMismatch)")
		s.Enter("Task", "Check candidate health").
			Fail(time.Second, string(deploy.TargetsNotReady), notReady.Error()).Elapse(10*time.Second).
			Fail(time.Second, string(deploy.TargetsNotReady), notReady.Error()).Elapse(15*time.Second).
			Fail(time.Second, string(deploy.CandidateUnhealthy), unhealthy.Error()).
			Catch("error")
		sc.rollBack(caughtOf(unhealthy), sc.rec.Before, false)
	case vRefused:
		s.Elapse(time.Second).Enter("Task", "Preflight").
			Fail(time.Second, string(deploy.DeploymentInProgress), lostLock().Error()).Uncaught()
	case vLostLock:
		sc.toShifting()
		s.Enter("Task", "Shift traffic").Fail(time.Second, string(deploy.DeploymentInProgress), lostLock().Error()).Catch("error")
		sc.rollBack(caughtOf(lostLock()), sc.rec.Before, true)
	case vFailed:
		err := deploy.Errorf(deploy.ListenerMisconfigured, "%s forwards to arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/legacy/0123456789abcdef, which is neither the blue nor the green target group", listenerARN)
		s.Elapse(time.Second).Enter("Task", "Preflight").Fail(time.Second, string(deploy.ListenerMisconfigured), err.Error()).Uncaught()
	case vTimedOut:
		sc.toShifting()
		sc.shift(0)
		s.Enter("Wait", "Bake step").Elapse(200 * time.Second).TimedOut()
	case vAbortedByHand:
		sc.toShifting()
		sc.shift(0)
		s.Enter("Wait", "Bake step").Elapse(30*time.Second).Stop("", "")
	case vRunning:
		sc.toShifting()
		sc.shift(0)
		s.Enter("Wait", "Bake step")
	}
}

// recordFor is the record Preflight writes for the execution: blue stable,
// with two healthy targets.
func recordFor(x *stepfntest.Execution, req deploy.Request) deploy.Record {
	plan, err := req.Plan(deploy.Strategy{Preset: deploy.Canary10Percent5Minutes, Steps: []int{10, 100}, BakeSeconds: 300})
	if err != nil {
		panic(err)
	}
	return deploy.Record{
		ID: x.Name, ExecutionARN: x.ARN, Version: req.Version, Image: req.Image, Commit: req.Commit,
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 100}, StableHealthy: 2,
		Plan: plan, DryRun: req.DryRun, StartedAt: x.Started.Add(time.Second),
	}
}

// lostLock is the error Preflight and Shift fail with when another
// deployment holds the listener.
func lostLock() error {
	return deploy.Errorf(deploy.DeploymentInProgress, "execution %s, started 2026-11-27T09:58:00Z, holds the listener; one deployment at a time", otherHolder)
}

// caughtOf is what a Catch records when a function fails with err: the
// error name and the function's error document, as the handler edge sends
// it.
func caughtOf(err error) map[string]string {
	doc, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": string(deploy.CodeOf(err))})
	return map[string]string{"Error": string(deploy.CodeOf(err)), "Cause": string(doc)}
}

// scene scripts one execution.
type scene struct {
	x   *stepfntest.Execution
	s   *stepfntest.Script
	rec deploy.Record
	// last is the latest shift.
	last deploy.ShiftOutput
}

// now is the script's clock as a time.
func (sc *scene) now() time.Time { return sc.x.Started.Add(sc.s.At()) }

func (sc *scene) preflight() {
	sc.s.Elapse(time.Second).Task("Preflight", time.Second, "preflight", sc.rec)
}

// release scripts an ECS release that completes at its first poll.
func (sc *scene) release() {
	s, at := sc.s, sc.now()
	out := ecsrelease.Output{
		Mode: "ecs", Action: "start", Status: ecsrelease.InProgress, Colour: sc.rec.Candidate, Cluster: "relay", Service: greenService,
		Container: "relay", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:" + sc.rec.Version,
		TaskDefinition: taskDefAfter, PreviousTaskDefinition: taskDefBefore, Changed: true, ECSDeploymentID: "ecs-svc/1234567890123456789",
		RolloutState: "IN_PROGRESS", RunningCount: 0, DesiredCount: 2, MaxChecks: 40,
		Message: "service relay-green is rolling out relay:43 (was relay:42)", StartedAt: at, CheckedAt: at,
	}
	s.Task("Release candidate", 2*time.Second, "release", out)
	s.Choice("Release status")
	s.Wait("Wait for release", 15*time.Second)
	out.Action, out.Status, out.RolloutState, out.RunningCount, out.Checks, out.CheckedAt = "check", ecsrelease.Completed, "COMPLETED", 2, 1, sc.now()
	out.Message = "service relay-green runs relay:43: 2 of 2 tasks, one deployment"
	s.Task("Check release", time.Second, "release", out)
	s.Choice("Release status")
}

// toShifting scripts everything before the first shift.
func (sc *scene) toShifting() {
	s := sc.s
	sc.preflight()
	sc.release()
	url := "https://relay-test.example.com:8443"
	s.Task("Check candidate health", time.Second, "health", candidate.HealthOutput{
		Colour: sc.rec.Candidate, Targets: deploy.Health{Total: 2, Healthy: 2, Reasons: []string{}}, MinHealthyTargets: 1,
		URL: url, HealthPath: "/health", HealthStatus: 200, Models: []string{"gpt-4o-mini"}, ModelsListed: 3, CheckedAt: sc.now(),
	})
	started := sc.now()
	s.Task("Warm up candidate", 8*time.Second, "warmup", candidate.WarmupOutput{
		Colour: sc.rec.Candidate, URL: url, Passed: true, Requests: 15, DurationMs: 7912,
		Models: []relayprobe.ModelReport{{
			Model: "gpt-4o-mini", Requests: 10, Streams: 5, Succeeded: 15, SuccessRatio: 1, StreamsSucceeded: 5,
			LatencyP50Ms: 640, LatencyP95Ms: 912, TTFTP50Ms: 210, TTFTP95Ms: 340, Passed: true,
		}},
		Thresholds: relayprobe.Thresholds{MinSuccessRatio: 1, MaxP95LatencyMs: 10000, MaxP95TTFTMs: 5000},
		StartedAt:  started, FinishedAt: started.Add(7912 * time.Millisecond),
	})
	s.Pass("Start shifting", "shift", map[string]int{"next": 0})
}

// bakeOf is the bake after step i of the plan.
func (sc *scene) bakeOf(i int) time.Duration {
	return time.Duration(sc.rec.Plan.Steps[i].BakeSeconds) * time.Second
}

// shift scripts the Shift task for step i, and the Choice after it.
func (sc *scene) shift(i int) {
	st := sc.rec.Plan.Steps[i]
	prev := sc.rec.Before
	if i > 0 {
		prev = deploy.Split(sc.rec.Stable, sc.rec.Plan.Steps[i-1].Percent)
	}
	sc.s.Enter("Task", "Shift traffic")
	sc.last = deploy.ShiftOutput{
		Step: i, Percent: st.Percent, Weights: deploy.Split(sc.rec.Stable, st.Percent), Previous: prev, Changed: true,
		BakeSeconds: st.BakeSeconds, Last: i == len(sc.rec.Plan.Steps)-1, Next: i + 1, At: sc.now(),
	}
	sc.s.Succeed(time.Second, "shift", sc.last).Exit()
	sc.s.Choice("Last step")
}

func (sc *scene) bake(i int) { sc.s.Wait("Bake step", sc.bakeOf(i)) }

// traffic is what each colour served during a step: healthy (a few stable
// errors, p99 under a second) or failing (the candidate answers 5xx to one
// request in twenty).
type traffic struct {
	candidate5xx int
	candidateP99 time.Duration
}

var (
	healthy = traffic{candidate5xx: 0, candidateP99: 910 * time.Millisecond}
	failing = traffic{candidate5xx: 21, candidateP99: 2410 * time.Millisecond}
)

// evaluate scripts an Evaluate task whose verdict the real Evaluate gives
// for the traffic since the shift.
func (sc *scene) evaluate(state string, tr traffic) deploy.Verdict {
	const took = time.Second
	sc.s.Enter("Task", state)
	now := sc.now().Add(took)
	m := deploytest.NewMetrics(alarmPrefix)
	mid := sc.last.At.Add(now.Sub(sc.last.At) / 2)
	cand, stable := 412, 3708
	if sc.last.Percent == 100 {
		cand, stable = 2918, 0
	}
	m.Serve(sc.rec.Candidate, mid, cand-tr.candidate5xx-1, 640*time.Millisecond, 200)
	m.Serve(sc.rec.Candidate, mid, 1, tr.candidateP99, 200)
	m.Serve(sc.rec.Candidate, mid, tr.candidate5xx, 30*time.Millisecond, 502)
	if stable > 0 {
		m.Serve(sc.rec.Stable, mid, stable-2, 610*time.Millisecond, 200)
		m.Serve(sc.rec.Stable, mid, 2, 880*time.Millisecond, 502)
	}
	e := deploy.Evaluate{Metrics: m, Policy: deploy.DefaultPolicy(), Now: func() time.Time { return now }}
	v, err := e.Handle(context.Background(), slog.New(slog.DiscardHandler), deploy.EvaluateInput{
		ExecutionARN: sc.rec.ExecutionARN, Deployment: sc.rec, Shift: sc.last,
	})
	if err != nil {
		panic(err)
	}
	sc.s.Succeed(took, "verdict", v).Exit()
	return v
}

// rollBack scripts the Roll back task with what the real rollback
// function returns for the caught error, the listener at weights, and
// (lostLock) another deployment holding it; then the Fail state, whose
// cause is the rollback's reason.
func (sc *scene) rollBack(caught map[string]string, weights deploy.Weights, lostLock bool) {
	const took = time.Second
	sc.s.Enter("Task", "Roll back")
	now := sc.now().Add(took)
	execs := deploytest.NewExecutions()
	execs.Start(sc.x.Name, sc.x.Started)
	if lostLock {
		execs.Start(otherHolder, sc.x.Started.Add(-2*time.Minute))
	}
	router := deploytest.NewRouter(weights)
	router.SetHealth(sc.rec.Stable, deploy.Health{Total: 2, Healthy: 2, Reasons: []string{}})
	sm, _ := deploy.StateMachineOf(sc.rec.ExecutionARN)
	h := rollback.Handler{Router: router, Targets: router, Executions: execs, StateMachineARN: sm, AlarmPrefix: alarmPrefix,
		Now: func() time.Time { return now }}
	payload, _ := json.Marshal(map[string]any{"source": rollback.SourcePipeline, "executionArn": sc.rec.ExecutionARN,
		"deployment": sc.rec, "error": caught})
	out, err := h.Handle(context.Background(), slog.New(slog.DiscardHandler), payload)
	if err != nil {
		panic(err)
	}
	sc.s.Succeed(took, "rollback", out).Exit()
	sc.s.FailState("Rolled back", string(deploy.RolledBack), out.Reason)
}
