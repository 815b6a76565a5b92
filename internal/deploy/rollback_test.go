package deploy_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
)

const sm = "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy"

// running is the deployment as FindRunning returns it: the execution as
// just described, and its record.
func (w *world) running(t *testing.T, rec deploy.Record) deploy.RunningDeployment {
	t.Helper()
	x, err := w.execs.Describe(context.Background(), rec.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	return deploy.RunningDeployment{Execution: x, Record: rec}
}

// mustShift runs Shift for step i and fails the test on an error.
func (w *world) mustShift(t *testing.T, rec deploy.Record, i int) {
	t.Helper()
	if _, err := w.shiftTo(t, rec, i); err != nil {
		t.Fatalf("shift %d: %v", i, err)
	}
}

// alarmRollback is what the rollback function does on an alarm: stop the
// execution, then restore.
func alarmRollback(t *testing.T, w *world, rec deploy.Record) {
	t.Helper()
	if _, err := deploy.StopAndRestore(context.Background(), discard, w.execs, w.router, w.running(t, rec), "alarm relay-green-5xx"); err != nil {
		t.Errorf("rollback: %v", err)
	}
}

// firstOnly returns a write hook that runs f at the first write only (the
// Shift's), not at the writes f itself causes.
func firstOnly(f func()) func(deploy.Weights) {
	fired := false
	return func(deploy.Weights) {
		if !fired {
			fired = true
			f()
		}
	}
}

func TestRollbackRaceWithInFlightShift(t *testing.T) {
	stableOnly := deploy.Weights{Blue: 100}
	for _, tc := range []struct {
		name string
		// arrange installs hooks that run the rollback at one point of the
		// shift; after is true when the rollback runs after Shift returns.
		arrange func(t *testing.T, w *world, rec deploy.Record)
		after   bool
	}{
		{name: "rollback before the shift starts", arrange: func(t *testing.T, w *world, rec deploy.Record) {
			alarmRollback(t, w, rec)
		}},
		{name: "rollback between the shift's check and its write", arrange: func(t *testing.T, w *world, rec deploy.Record) {
			w.router.BeforeWrite = firstOnly(func() { alarmRollback(t, w, rec) })
		}},
		{name: "rollback between the shift's write and its re-check", arrange: func(t *testing.T, w *world, rec deploy.Record) {
			w.router.AfterWrite = firstOnly(func() { alarmRollback(t, w, rec) })
		}},
		{name: "stop before the shift's write, restore after the shift returns", arrange: func(t *testing.T, w *world, rec deploy.Record) {
			w.router.BeforeWrite = firstOnly(func() {
				_ = w.execs.Stop(context.Background(), rec.ExecutionARN, "RolledBack", "alarm")
			})
		}, after: true},
		{name: "rollback after the shift completed", after: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(stableOnly)
			rec := w.started(t, "relay-v2")
			if _, err := w.shiftTo(t, rec, 0); err != nil {
				t.Fatal(err)
			}
			if tc.arrange != nil {
				tc.arrange(t, w, rec)
			}
			_, err := w.shiftTo(t, rec, 1)
			w.router.BeforeWrite, w.router.AfterWrite = nil, nil
			if tc.after {
				alarmRollback(t, w, rec)
			} else if deploy.CodeOf(err) != deploy.ExecutionNotRunning {
				t.Errorf("shift during rollback returned %v, want ExecutionNotRunning", err)
			}
			if got, _ := w.router.Weights(context.Background()); !got.Same(stableOnly) {
				t.Fatalf("traffic ends on %s, want all on blue; writes: %v", got, w.router.Writes())
			}
		})
	}
}

// TestRollbackRaceRandomized runs a Shift and an alarm rollback
// concurrently, with random pauses inside every write, a bounded number of
// times. Whatever the interleaving, traffic ends on the stable colour.
func TestRollbackRaceRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	pause := func(deploy.Weights) {
		mu.Lock()
		d := time.Duration(rng.IntN(300)) * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
	}
	for i := range 200 {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		if _, err := w.shiftTo(t, rec, 0); err != nil {
			t.Fatal(err)
		}
		w.router.BeforeWrite, w.router.AfterWrite = pause, pause
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = w.shiftTo(t, rec, 2) })
		wg.Go(func() { pause(deploy.Weights{}); alarmRollback(t, w, rec) })
		wg.Wait()
		if got, _ := w.router.Weights(context.Background()); !got.Same(deploy.Weights{Blue: 100}) {
			t.Fatalf("run %d: traffic ends on %s; writes %v", i, got, w.router.Writes())
		}
	}
}

func TestPreflightRecordsStableHealth(t *testing.T) {
	w := newWorld(deploy.Weights{Blue: 1})
	w.router.SetHealth(deploy.Blue, deploy.Health{Total: 4, Healthy: 3, Unhealthy: 1})
	rec := w.started(t, "relay-v2")
	if rec.StableHealthy != 3 {
		t.Fatalf("stableHealthy = %d, want 3", rec.StableHealthy)
	}
	if tags, _ := w.router.Tags(context.Background()); tags[deploy.TagStableHealthy] != "3" {
		t.Fatalf("tags: %v", tags)
	}
	rec.StableHealthy = -1
	if deploy.CodeOf(rec.Validate()) != deploy.InvalidInput {
		t.Fatal("a negative stableHealthy validated")
	}
}

func TestFindRunning(t *testing.T) {
	ctx := context.Background()
	t.Run("none running", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		if _, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm); ok || err != nil {
			t.Fatalf("ok %v err %v", ok, err)
		}
	})
	t.Run("record from history", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		rec := w.started(t, "relay-v2")
		w.execs.SetRecord(rec.ExecutionARN, rec)
		d, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm)
		if !ok || err != nil || d.Source != "history" || d.Record.ID != rec.ID {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
	})
	t.Run("record from tags when the history has none", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		rec := w.started(t, "relay-v2")
		d, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm)
		if !ok || err != nil || d.Source != "tags" {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
		want := deploy.Record{ID: rec.ID, ExecutionARN: rec.ExecutionARN, Stable: deploy.Blue, Candidate: deploy.Green,
			Before: deploy.Weights{Blue: 1}, StableHealthy: 1}
		if diff := cmp.Diff(want, d.Record); diff != "" {
			t.Fatalf("record (-want +got):\n%s", diff)
		}
	})
	t.Run("tags of another execution are not trusted", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		w.started(t, "relay-v2")
		_ = w.execs.Stop(ctx, deploytest.ExecutionARN("relay-v2"), "x", "y")
		w.execs.Start("relay-v3", t0.Add(time.Hour))
		if _, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm); !ok || !errors.Is(err, deploy.ErrNoRecord) {
			t.Fatalf("want ErrNoRecord for untrusted tags, got ok=%v err=%v", ok, err)
		}
	})
	t.Run("holder without a record has not moved traffic", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		arn := w.execs.Start("relay-v3", t0)
		d, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm)
		if !ok || !errors.Is(err, deploy.ErrNoRecord) || d.Execution.ARN != arn {
			t.Fatalf("%+v ok %v err %v", d, ok, err)
		}
	})
}

func TestStopAndRestore(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 1})
	rec := w.started(t, "relay-v2")
	w.mustShift(t, rec, 0)
	d := w.running(t, rec)

	res, err := deploy.StopAndRestore(ctx, discard, w.execs, w.router, d, "alarm relay-5xx went into ALARM")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || !res.Restored.Changed || res.Restored.From != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("result %+v", res)
	}
	if got, _ := w.router.Weights(ctx); got != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights %s", got)
	}
	if stops := w.execs.Stops(); len(stops) != 1 || !strings.Contains(stops[0], "RolledBack: alarm relay-5xx") {
		t.Fatalf("stops %v", stops)
	}
	tags, _ := w.router.Tags(ctx)
	for _, k := range []string{deploy.TagExecution, deploy.TagBefore, deploy.TagDeployment, deploy.TagStableHealthy} {
		if _, ok := tags[k]; ok {
			t.Errorf("tag %s left after the restore", k)
		}
	}

	// Again, as a duplicate alarm would: nothing to stop, nothing to write.
	res, err = deploy.StopAndRestore(ctx, discard, w.execs, w.router, w.running(t, rec), "again")
	if err != nil || res.Stopped || res.Restored.Changed {
		t.Fatalf("second rollback: %+v %v", res, err)
	}
	if n := len(w.router.Writes()); n != 2 { // the shift and the restore
		t.Fatalf("%d weight writes, want 2", n)
	}
}

// A duplicate alarm's invocation stops the execution after this one read it
// RUNNING: the Stop fails, but the restore still happens.
func TestStopAndRestoreStopRace(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 1})
	rec := w.started(t, "relay-v2")
	w.mustShift(t, rec, 0)
	execs := &racingStops{Executions: w.execs}
	res, err := deploy.StopAndRestore(ctx, discard, execs, w.router, w.running(t, rec), "alarm")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || !res.Restored.Changed {
		t.Fatalf("result %+v", res)
	}
	if got, _ := w.router.Weights(ctx); got != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights %s", got)
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

func TestRestoreIfHolder(t *testing.T) {
	ctx := context.Background()
	t.Run("the holder restores without stopping itself", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		rec := w.started(t, "relay-v2")
		w.mustShift(t, rec, 0)
		res, err := deploy.RestoreIfHolder(ctx, discard, w.execs, w.router, rec)
		if err != nil || res.Stopped || !res.Restored.Changed || res.Skipped != "" {
			t.Fatalf("%+v %v", res, err)
		}
		if len(w.execs.Stops()) != 0 {
			t.Fatal("the pipeline path stopped its own execution")
		}
	})
	t.Run("an execution that lost the lock leaves traffic alone", func(t *testing.T) {
		// A later execution passed Preflight (it did not see the holder
		// yet) and failed at its first Shift; its own Rollback state runs.
		w := newWorld(deploy.Weights{Blue: 1})
		holder := w.started(t, "relay-v2")
		w.mustShift(t, holder, 0)
		loser := holder
		loser.ID, loser.ExecutionARN = "relay-v3", w.execs.Start("relay-v3", t0.Add(time.Second))
		res, err := deploy.RestoreIfHolder(ctx, discard, w.execs, w.router, loser)
		if err != nil || res.Skipped == "" || res.Restored.Changed {
			t.Fatalf("%+v %v", res, err)
		}
		if got, _ := w.router.Weights(ctx); got != (deploy.Weights{Blue: 90, Green: 10}) {
			t.Fatalf("the loser moved traffic: %s", got)
		}
	})
	t.Run("an execution not yet listed still counts", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 1})
		rec := w.started(t, "relay-v2")
		w.mustShift(t, rec, 0)
		// A later execution is listed, this one (earlier) is not yet:
		// ListExecutions is eventually consistent.
		w.execs.Start("relay-v3", t0.Add(time.Minute))
		execs := &hiding{Executions: w.execs, hidden: rec.ExecutionARN}
		res, err := deploy.RestoreIfHolder(ctx, discard, execs, w.router, rec)
		if err != nil || res.Skipped != "" || !res.Restored.Changed {
			t.Fatalf("%+v %v", res, err)
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
	w := newWorld(deploy.Weights{Blue: 1})
	rec := w.started(t, "relay-v2")
	w.mustShift(t, rec, 0)

	failing := &failWrites{Router: w.router}
	if _, err := deploy.StopAndRestore(ctx, discard, w.execs, failing, w.running(t, rec), "alarm"); deploy.CodeOf(err) != deploy.Throttled {
		t.Fatalf("first attempt: %v", err)
	}
	if _, ok, _ := deploy.FindRunning(ctx, w.execs, w.router, sm); ok {
		t.Fatal("the stopped execution is still running")
	}
	d, ok, err := deploy.FindToRollBack(ctx, w.execs, w.router, sm)
	if !ok || err != nil || d.Record.ExecutionARN != rec.ExecutionARN || d.Execution.Status != "ABORTED" {
		t.Fatalf("retry found %+v ok %v err %v", d, ok, err)
	}
	res, err := deploy.StopAndRestore(ctx, discard, w.execs, w.router, d, "alarm")
	if err != nil || res.Stopped || !res.Restored.Changed {
		t.Fatalf("retry: %+v %v", res, err)
	}
	// Restored: the tags are gone, so a third delivery finds nothing.
	if _, ok, err := deploy.FindToRollBack(ctx, w.execs, w.router, sm); ok || err != nil {
		t.Fatalf("third delivery: ok %v err %v", ok, err)
	}
}

func TestFindUnrestoredLeavesSucceededAlone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 1})
	rec := w.started(t, "relay-v2")
	w.mustShift(t, rec, len(rec.Plan.Steps)-1)
	w.execs.Finish(rec.ExecutionARN, deploy.Succeeded)
	// Finalize failed to clear the tags (it only logs that): an alarm
	// after completion must still not move traffic.
	if _, ok, err := deploy.FindToRollBack(ctx, w.execs, w.router, sm); ok || err != nil {
		t.Fatalf("ok %v err %v", ok, err)
	}
}

// failWrites fails every weight write with Throttled.
type failWrites struct{ *deploytest.Router }

func (f *failWrites) SetWeights(context.Context, deploy.Weights) (deploy.Weights, error) {
	return deploy.Weights{}, deploy.Errorf(deploy.Throttled, "modify listener: rate exceeded")
}
