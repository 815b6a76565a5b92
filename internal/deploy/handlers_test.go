package deploy_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
)

// t0 (evaluate_test.go) is the tests' reference time.
var discard = slog.New(slog.DiscardHandler)

func fixedClock() func() time.Time { return func() time.Time { return t0.Add(time.Minute) } }

// world is a listener, its target groups and the state machine's
// executions, all in memory.
type world struct {
	router *deploytest.Router
	execs  *deploytest.Executions
}

func newWorld(w deploy.Weights) *world {
	return &world{router: deploytest.NewRouter(w), execs: deploytest.NewExecutions()}
}

func (w *world) preflight() *deploy.Preflight {
	def, _ := deploy.ParseStrategy(deploy.Canary10Percent5Minutes)
	return &deploy.Preflight{Router: w.router, Executions: w.execs, Targets: w.router, Service: "relay", DefaultStrategy: def, Now: fixedClock()}
}

func (w *world) shift() *deploy.Shift {
	return &deploy.Shift{Router: w.router, Targets: w.router, Executions: w.execs, Now: fixedClock()}
}

func request(version string) deploy.Request {
	s := deploy.Strategy{Steps: []int{10, 50, 100}, BakeSeconds: 60}
	return deploy.Request{Version: version, Commit: "abc1234", Strategy: &s}
}

// started runs Preflight for a new execution and returns its record.
func (w *world) started(t *testing.T, name string) deploy.Record {
	t.Helper()
	arn := w.execs.Start(name, t0)
	rec, err := w.preflight().Handle(context.Background(), discard, deploy.PreflightInput{ExecutionARN: arn, Request: request("v2")})
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	return rec
}

func (w *world) shiftTo(t *testing.T, rec deploy.Record, step int) (deploy.ShiftOutput, error) {
	t.Helper()
	return w.shift().Handle(context.Background(), discard, deploy.ShiftInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Step: step})
}

func TestPreflightPicksColoursAndRecords(t *testing.T) {
	for _, tc := range []struct {
		name              string
		weights           deploy.Weights
		stable, candidate deploy.Colour
	}{
		{"blue stable, single target group", deploy.Weights{Blue: 1}, deploy.Blue, deploy.Green},
		{"green stable", deploy.Weights{Blue: 0, Green: 100}, deploy.Green, deploy.Blue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.weights)
			rec := w.started(t, "relay-v2-abc1234")
			want := deploy.Record{
				ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"),
				Version: "v2", Commit: "abc1234", Stable: tc.stable, Candidate: tc.candidate, Before: tc.weights,
				Plan:      deploy.Plan{Strategy: deploy.Custom, Steps: []deploy.Step{{10, 60}, {50, 60}, {100, 300}}},
				StartedAt: t0.Add(time.Minute), StableHealthy: 1,
			}
			if diff := cmp.Diff(want, rec); diff != "" {
				t.Fatalf("record (-want +got):\n%s", diff)
			}
			if err := rec.Validate(); err != nil {
				t.Fatalf("record does not validate: %v", err)
			}
			tags, _ := w.router.Tags(context.Background())
			if tags[deploy.TagDeployment] != rec.ID || tags[deploy.TagStable] != string(tc.stable) || tags[deploy.TagBefore] != tc.weights.String() {
				t.Fatalf("tags do not mirror the record: %v", tags)
			}
			if len(w.router.Writes()) != 0 {
				t.Fatal("preflight moved traffic")
			}
		})
	}
}

func TestPreflightRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("invalid input touches nothing", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		arn := w.execs.Start("x", t0)
		for _, req := range []deploy.Request{{}, {Version: "v 2"}, {Version: "v2", Strategy: &deploy.Strategy{Steps: []int{10, 50}}}} {
			_, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: req})
			if deploy.CodeOf(err) != deploy.InvalidInput {
				t.Fatalf("%+v: %v, want InvalidInput", req, err)
			}
		}
		if tags, _ := w.router.Tags(ctx); len(tags) != 0 || len(w.router.Writes()) != 0 {
			t.Fatalf("invalid input touched the listener: tags %v, writes %v", tags, w.router.Writes())
		}
	})
	t.Run("an earlier running execution holds the lock", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		w.execs.Start("first", t0)
		late := w.execs.Start("second", t0.Add(time.Second))
		_, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: late, Request: request("v3")})
		if deploy.CodeOf(err) != deploy.DeploymentInProgress || !strings.Contains(err.Error(), "first") {
			t.Fatalf("got %v, want DeploymentInProgress naming first", err)
		}
	})
	t.Run("simultaneous executions: the smaller ARN wins, deterministically", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		a := w.execs.Start("relay-a", t0)
		b := w.execs.Start("relay-b", t0)
		_, errA := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: a, Request: request("v2")})
		_, errB := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: b, Request: request("v3")})
		if errA != nil || deploy.CodeOf(errB) != deploy.DeploymentInProgress {
			t.Fatalf("a: %v, b: %v", errA, errB)
		}
	})
	t.Run("execution not running", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		arn := w.execs.Start("x", t0)
		_ = w.execs.Stop(ctx, arn, "e", "c")
		_, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: request("v2")})
		if deploy.CodeOf(err) != deploy.ExecutionNotRunning {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a split listener left by another deployment", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 90, Green: 10})
		_ = w.router.Tag(ctx, map[string]string{deploy.TagDeployment: "relay-v1-old"}, nil)
		arn := w.execs.Start("x", t0)
		_, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: request("v2")})
		if deploy.CodeOf(err) != deploy.DeploymentInProgress || !strings.Contains(err.Error(), "relay-v1-old") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no traffic anywhere", func(t *testing.T) {
		w := newWorld(deploy.Weights{})
		arn := w.execs.Start("x", t0)
		_, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: request("v2")})
		if deploy.CodeOf(err) != deploy.ListenerMisconfigured {
			t.Fatalf("got %v", err)
		}
	})
}

func TestPreflightResumesItsOwnSplit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 90, Green: 10})
	_ = w.router.Tag(ctx, map[string]string{
		deploy.TagDeployment: "relay-v2-abc1234", deploy.TagStable: "blue", deploy.TagBefore: "blue=100,green=0",
	}, nil)
	arn := w.execs.Start("relay-v2-abc1234-r2", t0)
	rec, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: request("v2")})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Resumed || rec.Stable != deploy.Blue || rec.Before != (deploy.Weights{Blue: 100}) {
		t.Fatalf("resume record: %+v", rec)
	}
}

func TestShiftFollowsPlanClosedLoop(t *testing.T) {
	w := newWorld(deploy.Weights{Blue: 100})
	rec := w.started(t, "relay-v2")
	for i, want := range []deploy.Weights{{Blue: 90, Green: 10}, {Blue: 50, Green: 50}, {Blue: 0, Green: 100}} {
		out, err := w.shiftTo(t, rec, i)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, _ := w.router.Weights(context.Background())
		if got != want || out.Weights != want || !out.Changed {
			t.Fatalf("step %d: router %s, output %+v, want %s", i, got, out, want)
		}
		if out.Last != (i == 2) || out.Next != i+1 || out.BakeSeconds != rec.Plan.Steps[i].BakeSeconds {
			t.Fatalf("step %d: loop fields %+v", i, out)
		}
		writes := len(w.router.Writes())
		again, err := w.shiftTo(t, rec, i)
		if err != nil || again.Changed || len(w.router.Writes()) != writes {
			t.Fatalf("step %d repeated: %+v %v; writes %d -> %d", i, again, err, writes, len(w.router.Writes()))
		}
	}
}

func TestShiftRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("candidate without healthy targets", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		w.router.SetHealth(deploy.Green, deploy.Health{Total: 2, Unhealthy: 2})
		_, err := w.shiftTo(t, rec, 0)
		if deploy.CodeOf(err) != deploy.CandidateUnhealthy || len(w.router.Writes()) != 0 {
			t.Fatalf("got %v, writes %v", err, w.router.Writes())
		}
	})
	t.Run("step outside the plan", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		if _, err := w.shiftTo(t, rec, 3); deploy.CodeOf(err) != deploy.InvalidInput {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another execution's ARN", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		_, err := w.shift().Handle(ctx, discard, deploy.ShiftInput{ExecutionARN: deploytest.ExecutionARN("other"), Deployment: rec})
		if deploy.CodeOf(err) != deploy.InvalidInput {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("the lock is re-checked before writing", func(t *testing.T) {
		// ListExecutions is eventually consistent: Preflight of the later
		// execution may not have seen the earlier one, but Shift does.
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v3")
		w.execs.Start("relay-v2", t0.Add(-time.Second))
		_, err := w.shiftTo(t, rec, 0)
		if deploy.CodeOf(err) != deploy.DeploymentInProgress || len(w.router.Writes()) != 0 {
			t.Fatalf("got %v, writes %v", err, w.router.Writes())
		}
	})
	t.Run("dry run writes nothing", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		arn := w.execs.Start("relay-v2", t0)
		req := request("v2")
		req.DryRun = true
		rec, err := w.preflight().Handle(ctx, discard, deploy.PreflightInput{ExecutionARN: arn, Request: req})
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.shiftTo(t, rec, 0)
		if err != nil || out.Weights != (deploy.Weights{Blue: 90, Green: 10}) || !out.DryRun {
			t.Fatalf("dry run output %+v, %v", out, err)
		}
		if tags, _ := w.router.Tags(ctx); len(w.router.Writes()) != 0 || len(tags) != 0 {
			t.Fatalf("dry run wrote: %v %v", w.router.Writes(), tags)
		}
	})
}

func TestFinalize(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 100})
	rec := w.started(t, "relay-v2")
	f := &deploy.Finalize{Router: w.router, Now: fixedClock()}
	if _, err := f.Handle(ctx, discard, deploy.FinalizeInput{ExecutionARN: rec.ExecutionARN, Deployment: rec}); deploy.CodeOf(err) != deploy.WeightNotApplied {
		t.Fatalf("finalize before promotion: %v", err)
	}
	for i := range rec.Plan.Steps {
		if _, err := w.shiftTo(t, rec, i); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := f.Handle(ctx, discard, deploy.FinalizeInput{ExecutionARN: rec.ExecutionARN, Deployment: rec})
	if err != nil {
		t.Fatal(err)
	}
	if sum.From != deploy.Blue || sum.To != deploy.Green || sum.Weights != (deploy.Weights{Green: 100}) || len(sum.Steps) != 3 {
		t.Fatalf("summary %+v", sum)
	}
	tags, _ := w.router.Tags(ctx)
	if diff := cmp.Diff(map[string]string{deploy.TagStable: "green", deploy.TagVersion: "v2"}, tags); diff != "" {
		t.Fatalf("tags after finalize (-want +got):\n%s", diff)
	}
}

func TestRestoreIsIdempotent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 1})
	rec := w.started(t, "relay-v2")
	if _, err := w.shiftTo(t, rec, 1); err != nil {
		t.Fatal(err)
	}
	res, err := deploy.Restore(ctx, discard, w.router, rec)
	if err != nil || !res.Changed || res.From != (deploy.Weights{Blue: 50, Green: 50}) {
		t.Fatalf("restore: %+v %v", res, err)
	}
	if got, _ := w.router.Weights(ctx); got != (deploy.Weights{Blue: 1}) {
		t.Fatalf("restored to %s, want the exact weights before (blue=1)", got)
	}
	writes := len(w.router.Writes())
	res, err = deploy.Restore(ctx, discard, w.router, rec)
	if err != nil || res.Changed || len(w.router.Writes()) != writes {
		t.Fatalf("second restore wrote: %+v %v", res, err)
	}
	if tags, _ := w.router.Tags(ctx); tags[deploy.TagDeployment] != "" || tags[deploy.TagStable] != "blue" {
		t.Fatalf("tags after restore: %v", tags)
	}
}
