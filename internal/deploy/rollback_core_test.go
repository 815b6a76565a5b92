package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
)

const sm = "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy"

// preflighted runs Preflight for a new execution called name against r and
// execs, as the state machine would, and returns the record.
func preflighted(t *testing.T, r *deploytest.Router, execs *deploytest.Executions, name string, started time.Time) deploy.Record {
	t.Helper()
	arn := execs.Start(name, started)
	p := &deploy.Preflight{Router: r, Executions: execs, Targets: r, Service: "relay",
		DefaultStrategy: deploy.Strategy{Steps: []int{10, 100}, BakeSeconds: 60}, Now: func() time.Time { return started }}
	rec, err := p.Handle(context.Background(), quietLog(), deploy.PreflightInput{ExecutionARN: arn, Request: deploy.Request{Version: "v2"}})
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	return rec
}

func shifted(t *testing.T, r *deploytest.Router, execs *deploytest.Executions, rec deploy.Record, step int) {
	t.Helper()
	s := &deploy.Shift{Router: r, Targets: r, Executions: execs, Now: func() time.Time { return t0 }}
	if _, err := s.Handle(context.Background(), quietLog(), deploy.ShiftInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Step: step}); err != nil {
		t.Fatalf("shift: %v", err)
	}
}

func TestPreflightRecordsStableHealth(t *testing.T) {
	r := deploytest.NewRouter(deploy.Weights{Blue: 1})
	r.SetHealth(deploy.Blue, deploy.Health{Total: 4, Healthy: 3, Unhealthy: 1})
	execs := deploytest.NewExecutions()
	rec := preflighted(t, r, execs, "relay-v2", t0)
	if rec.StableHealthy != 3 {
		t.Fatalf("stableHealthy = %d, want 3", rec.StableHealthy)
	}
	tags, _ := r.Tags(context.Background())
	if tags[deploy.TagStableHealthy] != "3" {
		t.Fatalf("tags: %v", tags)
	}
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	rec.StableHealthy = -1
	if deploy.CodeOf(rec.Validate()) != deploy.InvalidInput {
		t.Fatal("a negative stableHealthy validated")
	}
}

func TestFindRunning(t *testing.T) {
	ctx := context.Background()
	t.Run("none running", func(t *testing.T) {
		_, ok, err := deploy.FindRunning(ctx, deploytest.NewExecutions(), deploytest.NewRouter(deploy.Weights{Blue: 1}), sm)
		if ok || err != nil {
			t.Fatalf("ok %v err %v", ok, err)
		}
	})
	t.Run("record from history", func(t *testing.T) {
		r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		rec := preflighted(t, r, execs, "relay-v2", t0)
		execs.SetRecord(rec.ExecutionARN, rec)
		d, ok, err := deploy.FindRunning(ctx, execs, r, sm)
		if !ok || err != nil || d.Source != "history" || d.Record.ID != rec.ID {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
	})
	t.Run("record from tags when the history has none", func(t *testing.T) {
		r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		rec := preflighted(t, r, execs, "relay-v2", t0)
		d, ok, err := deploy.FindRunning(ctx, execs, r, sm)
		if !ok || err != nil || d.Source != "tags" {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
		want := deploy.Record{ID: rec.ID, ExecutionARN: rec.ExecutionARN, Stable: deploy.Blue, Candidate: deploy.Green,
			Before: deploy.Weights{Blue: 1}, StableHealthy: 1}
		if diff := cmp.Diff(want, d.Record); diff != "" {
			t.Fatalf("record (-want +got):\n%s", diff)
		}
	})
	t.Run("holder without a record has not moved traffic", func(t *testing.T) {
		r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		arn := execs.Start("relay-v3", t0)
		d, ok, err := deploy.FindRunning(ctx, execs, r, sm)
		if !ok || !errors.Is(err, deploy.ErrNoRecord) || d.Execution.ARN != arn {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
	})
}

func TestRollBackAlarmPath(t *testing.T) {
	ctx := context.Background()
	r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
	rec := preflighted(t, r, execs, "relay-v2", t0)
	shifted(t, r, execs, rec, 0)

	res, err := deploy.RollBack(ctx, quietLog(), execs, r, rec, true, "alarm relay-5xx went into ALARM")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || !res.Restored.Changed || res.Restored.From != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("result %+v", res)
	}
	if w, _ := r.Weights(ctx); w != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights %s", w)
	}
	if stops := execs.Stops(); len(stops) != 1 || !strings.Contains(stops[0], "RolledBack: alarm relay-5xx") {
		t.Fatalf("stops %v", stops)
	}
	tags, _ := r.Tags(ctx)
	for _, k := range []string{deploy.TagExecution, deploy.TagBefore, deploy.TagDeployment, deploy.TagStableHealthy} {
		if _, ok := tags[k]; ok {
			t.Errorf("tag %s left after the restore", k)
		}
	}

	// Again: nothing to stop, nothing to write.
	res, err = deploy.RollBack(ctx, quietLog(), execs, r, rec, true, "again")
	if err != nil || res.Stopped || res.Restored.Changed {
		t.Fatalf("second rollback: %+v %v", res, err)
	}
	if n := len(r.Writes()); n != 2 { // the shift and the restore
		t.Fatalf("%d weight writes, want 2", n)
	}
}

// A duplicate alarm's invocation stops the execution between this one's
// Describe and Stop: the Stop fails, but the restore still happens.
func TestRollBackStopRace(t *testing.T) {
	ctx := context.Background()
	r, base := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
	rec := preflighted(t, r, base, "relay-v2", t0)
	shifted(t, r, base, rec, 0)
	execs := &racingStops{Executions: base}
	res, err := deploy.RollBack(ctx, quietLog(), execs, r, rec, true, "alarm")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || !res.Restored.Changed {
		t.Fatalf("result %+v", res)
	}
	if w, _ := r.Weights(ctx); w != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights %s", w)
	}
}

// racingStops lets another actor stop the execution first, then fails the
// Stop as AWS would for an execution no longer running.
type racingStops struct {
	*deploytest.Executions
	once sync.Once
}

func (e *racingStops) Stop(ctx context.Context, arn, name, cause string) error {
	e.once.Do(func() { _ = e.Executions.Stop(ctx, arn, name, "the other invocation") })
	return deploy.Errorf(deploy.InvalidInput, "execution %s is not running", arn)
}

func TestRollBackPipelinePath(t *testing.T) {
	ctx := context.Background()
	t.Run("the holder restores", func(t *testing.T) {
		r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		rec := preflighted(t, r, execs, "relay-v2", t0)
		shifted(t, r, execs, rec, 0)
		res, err := deploy.RollBack(ctx, quietLog(), execs, r, rec, false, "")
		if err != nil || res.Stopped || !res.Restored.Changed || res.Skipped != "" {
			t.Fatalf("%+v %v", res, err)
		}
		if len(execs.Stops()) != 0 {
			t.Fatal("the pipeline path stopped its own execution")
		}
	})
	t.Run("an execution that lost the lock leaves traffic alone", func(t *testing.T) {
		r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		holder := preflighted(t, r, execs, "relay-v2", t0)
		shifted(t, r, execs, holder, 0)
		loser := holder
		loser.ID, loser.ExecutionARN = "relay-v3", execs.Start("relay-v3", t0.Add(time.Second))
		res, err := deploy.RollBack(ctx, quietLog(), execs, r, loser, false, "")
		if err != nil || res.Skipped == "" || res.Restored.Changed {
			t.Fatalf("%+v %v", res, err)
		}
		if w, _ := r.Weights(ctx); w != (deploy.Weights{Blue: 90, Green: 10}) {
			t.Fatalf("the loser moved traffic: %s", w)
		}
	})
	t.Run("an execution not yet listed still counts", func(t *testing.T) {
		r, base := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
		rec := preflighted(t, r, base, "relay-v2", t0)
		shifted(t, r, base, rec, 0)
		// A later execution is listed, this one (earlier) is not yet:
		// ListExecutions is eventually consistent.
		later := base.Start("relay-v3", t0.Add(time.Minute))
		execs := &hiding{Executions: base, hidden: rec.ExecutionARN}
		res, err := deploy.RollBack(ctx, quietLog(), execs, r, rec, false, "")
		if err != nil || res.Skipped != "" || !res.Restored.Changed {
			t.Fatalf("%+v %v (later %s)", res, err, later)
		}
	})
}

// hiding leaves one execution out of Running, as an eventually consistent
// ListExecutions may.
type hiding struct {
	*deploytest.Executions
	hidden string
}

func (e *hiding) Running(ctx context.Context, sm string) ([]deploy.Execution, error) {
	all, err := e.Executions.Running(ctx, sm)
	var out []deploy.Execution
	for _, x := range all {
		if x.ARN != e.hidden {
			out = append(out, x)
		}
	}
	return out, err
}

// TestFindUnrestored: a rollback that stopped the execution and then failed
// to restore is redelivered; the retry must still find the deployment.
func TestFindUnrestored(t *testing.T) {
	ctx := context.Background()
	r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
	rec := preflighted(t, r, execs, "relay-v2", t0)
	shifted(t, r, execs, rec, 0)

	failing := &failWrites{Router: r}
	if _, err := deploy.RollBack(ctx, quietLog(), execs, failing, rec, true, "alarm"); deploy.CodeOf(err) != deploy.Throttled {
		t.Fatalf("first attempt: %v", err)
	}
	if _, ok, _ := deploy.FindRunning(ctx, execs, r, sm); ok {
		t.Fatal("the stopped execution is still running")
	}
	d, ok, err := deploy.FindToRollBack(ctx, execs, r, sm)
	if !ok || err != nil || d.Record.ExecutionARN != rec.ExecutionARN || d.Execution.Status != "ABORTED" {
		t.Fatalf("retry found %+v ok %v err %v", d, ok, err)
	}
	res, err := deploy.RollBack(ctx, quietLog(), execs, r, d.Record, true, "alarm")
	if err != nil || res.Stopped || !res.Restored.Changed {
		t.Fatalf("retry: %+v %v", res, err)
	}
	// Restored: the tags are gone, so a third delivery finds nothing.
	if _, ok, err := deploy.FindToRollBack(ctx, execs, r, sm); ok || err != nil {
		t.Fatalf("third delivery: ok %v err %v", ok, err)
	}
}

func TestFindUnrestoredLeavesSucceededAlone(t *testing.T) {
	ctx := context.Background()
	r, execs := deploytest.NewRouter(deploy.Weights{Blue: 1}), deploytest.NewExecutions()
	rec := preflighted(t, r, execs, "relay-v2", t0)
	shifted(t, r, execs, rec, 1)
	execs.Finish(rec.ExecutionARN, deploy.Succeeded)
	// Finalize failed to clear the tags (it only logs that): an alarm
	// after completion must still not move traffic.
	if _, ok, err := deploy.FindToRollBack(ctx, execs, r, sm); ok || err != nil {
		t.Fatalf("ok %v err %v", ok, err)
	}
}

// failWrites fails every weight write with Throttled.
type failWrites struct{ *deploytest.Router }

func (f *failWrites) SetWeights(context.Context, deploy.Weights) (deploy.Weights, error) {
	return deploy.Weights{}, deploy.Errorf(deploy.Throttled, "modify listener: rate exceeded")
}
