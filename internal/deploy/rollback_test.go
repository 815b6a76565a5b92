package deploy_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
)

// alarmRollback is what the rollback function does on an alarm: stop the
// execution, then restore.
func alarmRollback(t *testing.T, w *world, rec deploy.Record) {
	t.Helper()
	if _, err := deploy.RollBack(context.Background(), discard, w.execs, w.router, rec, true, "alarm relay-green-5xx"); err != nil {
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

func TestPipelineRollbackLeavesTheHoldersTrafficAlone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(deploy.Weights{Blue: 100})
	holder := w.started(t, "relay-v2")
	if _, err := w.shiftTo(t, holder, 0); err != nil {
		t.Fatal(err)
	}
	// A later execution passed Preflight (it did not see the holder yet)
	// and failed at its first Shift; its own Rollback state runs.
	loserARN := w.execs.Start("relay-v3", t0.Add(time.Second))
	loser := holder
	loser.ID, loser.ExecutionARN = "relay-v3", loserARN
	res, err := deploy.RollBack(ctx, discard, w.execs, w.router, loser, false, "Shift failed")
	if err != nil || res.Skipped == "" {
		t.Fatalf("loser rollback: %+v %v", res, err)
	}
	if got, _ := w.router.Weights(ctx); got != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("the loser moved the holder's traffic to %s", got)
	}
	// The holder's own pipeline rollback restores.
	res, err = deploy.RollBack(ctx, discard, w.execs, w.router, holder, false, "WarmupFailed")
	if err != nil || !res.Restored.Changed || res.Stopped {
		t.Fatalf("holder rollback: %+v %v", res, err)
	}
}

func TestFindRunningSources(t *testing.T) {
	ctx := context.Background()

	t.Run("none", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		if _, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm); ok || err != nil {
			t.Fatalf("found %v, %v", ok, err)
		}
	})
	t.Run("from the history", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		w.execs.SetRecord(rec.ExecutionARN, rec)
		d, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm)
		if err != nil || !ok || d.Source != "history" || d.Record.ID != rec.ID {
			t.Fatalf("%+v %v %v", d, ok, err)
		}
	})
	t.Run("from the listener tags when the history has none", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		rec := w.started(t, "relay-v2")
		d, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm)
		if err != nil || !ok || d.Source != "tags" || d.Record.Stable != deploy.Blue || d.Record.Before != rec.Before {
			t.Fatalf("%+v %v %v", d, ok, err)
		}
	})
	t.Run("tags of another execution are not trusted", func(t *testing.T) {
		w := newWorld(deploy.Weights{Blue: 100})
		w.started(t, "relay-v2")
		_ = w.execs.Stop(ctx, deploytest.ExecutionARN("relay-v2"), "x", "y")
		w.execs.Start("relay-v3", t0.Add(time.Hour))
		if _, ok, err := deploy.FindRunning(ctx, w.execs, w.router, sm); !ok || err == nil {
			t.Fatalf("want an error for untrusted tags, got ok=%v err=%v", ok, err)
		}
	})
}
