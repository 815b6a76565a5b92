package bench

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/lab/statemachine"
)

func TestWaitSpecsOfTheDeploymentDefinition(t *testing.T) {
	asl, err := os.ReadFile("../../infra/statemachine/deploy.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := waitSpecs(asl)
	if err != nil {
		t.Fatal(err)
	}
	bake := `{"shift":{"bakeSeconds":300}}`
	for _, tc := range []struct {
		state string
		want  float64
	}{{"Bake step", 300}, {"Post-promotion bake", 300}, {"Hold step", 60}, {"Hold promotion", 60}, {"Wait for release", 15}} {
		spec, ok := w[tc.state]
		if !ok {
			t.Errorf("no Wait state %q in %v", tc.state, w)
			continue
		}
		if got, ok := spec.seconds(bake); !ok || got != tc.want {
			t.Errorf("%s: %v seconds (%v), want %v", tc.state, got, ok, tc.want)
		}
	}
}

var h0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return h0.Add(time.Duration(ms) * time.Millisecond) }

func entered(ms int, typ, name, input string) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: typ + "StateEntered", StateEntered: &statemachine.StateEnteredDetails{Name: name, Input: input}}
}

func exited(ms int, typ, name string) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: typ + "StateExited", StateExited: &statemachine.StateExitedDetails{Name: name}}
}

func scheduled(ms int, fn string) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: "TaskScheduled", TaskScheduled: &statemachine.TaskScheduledDetails{
		ResourceType: "lambda", Resource: "invoke", Parameters: `{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:` + fn + `","Payload":{}}`}}
}

func started(ms int) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: "TaskStarted", TaskStarted: &statemachine.TaskResource{ResourceType: "lambda", Resource: "invoke"}}
}

func succeeded(ms int) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: "TaskSucceeded", TaskSucceeded: &statemachine.TaskSucceededDetails{ResourceType: "lambda", Resource: "invoke"}}
}

func failed(ms int) statemachine.Event {
	return statemachine.Event{Timestamp: at(ms), Type: "TaskFailed", TaskFailed: &statemachine.TaskFailureDetails{ResourceType: "lambda", Resource: "invoke", Error: "Throttled"}}
}

func TestAnalyse(t *testing.T) {
	waits := map[string]waitSpec{"Bake": {SecondsPath: "$.shift.bakeSeconds"}, "Hold": {Seconds: ptr(60.0)}}
	history := []statemachine.Event{
		{Timestamp: at(0), Type: "ExecutionStarted", ExecutionStarted: &statemachine.ExecutionStartedDetails{}},
		entered(1, "Task", "Preflight", `{}`),
		scheduled(1, "relayshift-PreflightFunction"), started(2), failed(12), // attempt 1: 10 ms
		scheduled(40, "relayshift-PreflightFunction"), started(41), succeeded(61), // the retry: 20 ms
		exited(62, "Task", "Preflight"),
		entered(62, "Wait", "Bake", `{"shift":{"bakeSeconds":300}}`), exited(5070, "Wait", "Bake"), // 300 s × 1/60 = 5 s, took 5.008 s
		entered(5070, "Task", "Evaluate", `{}`),
		scheduled(5070, "relayshift-EvaluateFunction:live"), started(5071), succeeded(5074), // 3 ms, qualified name
		exited(5074, "Task", "Evaluate"),
		entered(5074, "Wait", "Hold", `{}`), exited(6075, "Wait", "Hold"), // 60 s × 1/60 = 1 s
		entered(6075, "Succeed", "Promoted", `{}`),
		{Timestamp: at(6076), Type: "ExecutionSucceeded", ExecutionSucceeded: &statemachine.OutputDetails{}},
	}
	x, err := analyse("arn:x", history, waits, 1.0/60)
	if err != nil {
		t.Fatal(err)
	}
	want := Execution{
		ARN: "arn:x", Status: statemachine.StatusSucceeded, Start: at(0), Stop: at(6076),
		Entered: []string{"Preflight", "Bake", "Evaluate", "Hold", "Promoted"}, Retries: 1,
		Invocations: []Invocation{
			{Function: "relayshift-PreflightFunction", Via: "Preflight", Duration: 10 * time.Millisecond},
			{Function: "relayshift-PreflightFunction", Via: "Preflight", Duration: 20 * time.Millisecond},
			{Function: "relayshift-EvaluateFunction", Via: "Evaluate", Duration: 3 * time.Millisecond},
		},
		ConfiguredWait: 6 * time.Second,
	}
	if diff := cmp.Diff(want, x); diff != "" {
		t.Errorf("execution (-want +got):\n%s", diff)
	}
	if x.Transitions() != 6 || x.Overhead() != 76*time.Millisecond {
		t.Errorf("transitions %d (want 5 states + 1 retry), overhead %s (want 6.076 s − 6 s)", x.Transitions(), x.Overhead())
	}

	// Stopped during its bake (the alarm path): the bake it entered counts
	// as configured, the execution ends at the stop.
	aborted := append(append([]statemachine.Event(nil), history[:10]...),
		statemachine.Event{Timestamp: at(2000), Type: "ExecutionAborted", ExecutionAborted: &statemachine.FailureDetails{Error: "RolledBack"}})
	x, err = analyse("arn:y", aborted, waits, 1.0/60)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != statemachine.StatusAborted || x.ConfiguredWait != 5*time.Second || x.Total() != 2*time.Second || x.Transitions() != 3 || len(x.Invocations) != 2 {
		t.Errorf("aborted execution: %+v", x)
	}

	// Stopped while a function ran: the invocation counts until the stop.
	running := append(append([]statemachine.Event(nil), history[:7]...),
		statemachine.Event{Timestamp: at(100), Type: "ExecutionAborted", ExecutionAborted: &statemachine.FailureDetails{Error: "RolledBack"}})
	x, err = analyse("arn:z", running, waits, 1.0/60)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Invocation{Function: "relayshift-PreflightFunction", Via: "Preflight", Duration: 59 * time.Millisecond}); len(x.Invocations) != 2 || x.Invocations[1] != want {
		t.Errorf("invocations of an execution stopped during its retry: %+v, want the second %+v", x.Invocations, want)
	}
}

func TestAnalyseRefuses(t *testing.T) {
	start := statemachine.Event{Timestamp: at(0), Type: "ExecutionStarted", ExecutionStarted: &statemachine.ExecutionStartedDetails{}}
	for _, tc := range []struct {
		name    string
		history []statemachine.Event
	}{
		{"no history", nil},
		{"a Wait state the definition lacks", []statemachine.Event{start, entered(1, "Wait", "Nap", `{}`)}},
		{"a SecondsPath that resolves to nothing", []statemachine.Event{start, entered(1, "Wait", "Bake", `{"shift":{}}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := analyse("arn:z", tc.history, map[string]waitSpec{"Bake": {SecondsPath: "$.shift.bakeSeconds"}}, 1); err == nil {
				t.Error("no error")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
