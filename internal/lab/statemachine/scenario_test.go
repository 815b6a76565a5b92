package statemachine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/scenario"
)

// realDefinition loads the project's definition with the scenario table's
// substitutions.
func realDefinition(tb testing.TB, root string) (*Definition, *scenario.Table, scenario.Resolved) {
	tb.Helper()
	table, err := scenario.Load(filepath.Join(root, scenariosFile))
	if err != nil {
		tb.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, definitionFile))
	if err != nil {
		tb.Fatal(err)
	}
	subs := deploySubstitutions(table)
	def, err := Load(text, subs)
	if err != nil {
		tb.Fatalf("the lab refuses the real definition: %v", err)
	}
	return def, table, table.Resolve(subs)
}

// TestRealDefinitionScenarios runs the project's definition through every
// scenario of the definition tier's table (infra/statemachine/scenarios.json)
// on the engine, and judges each run with the table's own Check: the
// states entered, the calls and their payloads, the waits, the end. (The
// differential test compares the same runs with aws-local-stepfunctions.)
func TestRealDefinitionScenarios(t *testing.T) {
	def, table, resolved := realDefinition(t, emulators.ModuleRoot(t))
	functionID := func(arn string) string { return strings.TrimPrefix(arn, fakeARNPrefix) }
	for i, sc := range table.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			tr, _ := labTrace(t, def, table.Execution["Name"], resolved.Scenarios[i])
			for _, d := range table.Check(sc, asLocalStepfunctions(t, tr), functionID) {
				t.Error(d)
			}
		})
	}
}

// TestTimeScaleOnTheRealClock runs the first scenario (a healthy canary)
// on the wall clock with a time scale of 0.001: its Wait states take a
// thousandth of their seconds. The elapsed time is printed, not asserted.
func TestTimeScaleOnTheRealClock(t *testing.T) {
	def, table, resolved := realDefinition(t, emulators.ModuleRoot(t))
	sc := resolved.Scenarios[0]
	// The waits the scenario declares, from a run on the virtual clock.
	virtual, _ := labTrace(t, def, table.Execution["Name"], sc)
	var declared float64
	for _, w := range virtual.Waits {
		declared += w.Seconds
	}
	if declared == 0 {
		t.Fatalf("scenario %q has no waits", sc.Name)
	}
	svc, err := NewService(Options{Invoker: &tableInvoker{calls: sc.Tasks, made: map[string]int{}}, TimeScale: 0.001, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	sm, err := svc.CreateStateMachine("relayshift-deploy", testRole, def)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	x, err := svc.StartExecution(sm.ARN, table.Execution["Name"], string(sc.Input))
	if err != nil {
		t.Fatal(err)
	}
	x, h := (&lab{svc: svc}).wait(t, x.ARN)
	elapsed := time.Since(start)
	if x.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s", x.Status, x.Error, x.Cause)
	}
	var waited time.Duration
	var entered time.Time
	for _, e := range h {
		switch e.Type {
		case "WaitStateEntered":
			entered = e.Timestamp
		case "WaitStateExited":
			waited += e.Timestamp.Sub(entered)
		}
	}
	if min := time.Duration(declared * 0.001 * float64(time.Second)); waited < min {
		t.Errorf("the Wait states lasted %v in all, less than %v s × 0.001", waited, declared)
	}
	t.Logf("%v s of Wait states at time scale 0.001: execution took %v (waits %v, %d events)", declared, elapsed, waited, len(h))
}

// BenchmarkRealDefinitionExecution measures the engine's own cost: one
// healthy execution of the project's definition on a virtual clock.
func BenchmarkRealDefinitionExecution(b *testing.B) {
	wd, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	def, _, resolved := realDefinition(b, filepath.Join(wd, "..", "..", ".."))
	sc := resolved.Scenarios[0]
	inv := &tableInvoker{calls: sc.Tasks, made: map[string]int{}}
	svc, err := NewService(Options{Invoker: inv, Clock: NewVirtualClock(t0), Region: "eu-west-1"})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	sm, err := svc.CreateStateMachine("relayshift-deploy", testRole, def)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inv.mu.Lock()
		inv.made = map[string]int{}
		inv.mu.Unlock()
		x, err := svc.StartExecution(sm.ARN, "", string(sc.Input))
		if err != nil {
			b.Fatal(err)
		}
		if x, err = svc.Wait(context.Background(), x.ARN); err != nil || x.Status != StatusSucceeded {
			b.Fatalf("%v %s %s", err, x.Status, x.Cause)
		}
	}
}
