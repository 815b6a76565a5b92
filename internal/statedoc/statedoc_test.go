package statedoc_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/relayprobe"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/statedoc"
	"github.com/relayshift/relayshift/internal/stepfn"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

var at = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const execARN = "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:relay-v2.4.0-9f1c2ab"

// samples are outputs of the functions, by the key their state writes:
// between them, every field of each type is set.
func samples() map[string][]any {
	rec := deploy.Record{
		ID: "relay-v2.4.0-9f1c2ab", ExecutionARN: execARN, Version: "v2.4.0", Image: "relay:v2.4.0", Commit: "9f1c2ab",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 100}, StableHealthy: 2,
		Plan: deploy.Plan{Strategy: "Linear10PercentEvery1Minute", Steps: []deploy.Step{
			{Percent: 10, BakeSeconds: 60}, {Percent: 20, BakeSeconds: 60}, {Percent: 30, BakeSeconds: 60},
			{Percent: 50, BakeSeconds: 60}, {Percent: 100, BakeSeconds: 300}}},
		DryRun: true, Resumed: true, StartedAt: at,
	}
	alarm := "relayshift-relay-green-5xx-rate"
	return map[string][]any{
		statedoc.Preflight: {rec},
		statedoc.Release: {ecsrelease.Output{
			Mode: "ecs", Action: "check", Status: ecsrelease.Completed, DryRun: true, Colour: deploy.Green, Cluster: "relay",
			Service: "relay-green", Container: "relay", Image: "relay:v2.4.0", TaskDefinition: "relay:43",
			PreviousTaskDefinition: "relay:42", Changed: true, ECSDeploymentID: "ecs-svc/1", RolloutState: "COMPLETED",
			RunningCount: 2, DesiredCount: 2, Checks: 3, MaxChecks: 40, Message: "service relay-green runs relay:43",
			StartedAt: at, CheckedAt: at.Add(time.Minute),
		}},
		statedoc.Health: {candidate.HealthOutput{
			Colour: deploy.Green, Targets: deploy.Health{Total: 3, Healthy: 2, Initial: 1, Reasons: []string{"Elb.InitialHealthChecking"}},
			MinHealthyTargets: 2, URL: "https://relay-test.example.com:8443", HealthPath: "/health", HealthStatus: 200,
			Models: []string{"gpt-4o-mini"}, ModelsListed: 3, DryRun: true, CheckedAt: at,
		}},
		statedoc.Warmup: {candidate.WarmupOutput{
			Colour: deploy.Green, URL: "https://relay-test.example.com:8443", Passed: true, Requests: 30, DurationMs: 1234.5,
			Models:     []relayprobe.ModelReport{{Model: "a", Requests: 10, Streams: 5}, {Model: "b", Requests: 10, Streams: 5}},
			Thresholds: relayprobe.Thresholds{MinSuccessRatio: 1}, DryRun: true, StartedAt: at, FinishedAt: at.Add(time.Second),
		}},
		statedoc.Shift: {
			deploy.ShiftOutput{Step: 4, Percent: 100, Weights: deploy.Weights{Green: 100}, Previous: deploy.Weights{Blue: 50, Green: 50},
				Changed: true, BakeSeconds: 300, Last: true, Next: 5, At: at},
			deploy.ShiftOutput{Step: 1, Percent: 20, Weights: deploy.Weights{Blue: 80, Green: 20}, DryRun: true, BakeSeconds: 60, Next: 2, At: at},
		},
		statedoc.Verdict: {deploy.Verdict{
			Verdict: deploy.VerdictRollback, Reasons: []string{"pipeline alarms in ALARM: " + alarm, "candidate green had 1 unhealthy hosts"},
			Step: 4, Final: true, Candidate: deploy.Numbers{Colour: deploy.Green, Requests: 10}, Stable: deploy.Numbers{Colour: deploy.Blue},
			LoadBalancerELB5xx: 1, Alarms: []string{alarm}, Window: deploy.TimeWindow{From: at, To: at.Add(time.Minute)}, EvaluatedAt: at,
		}},
		statedoc.Rollback: {
			rollback.Output{
				Action: rollback.ActionRestored, Reason: "deployment relay-v2.4.0-9f1c2ab failed with CandidateUnhealthy; restored blue",
				Trigger:    rollback.Trigger{Kind: "alarm", Via: alarmevent.ViaEventBridge, AlarmName: alarm, State: "ALARM"},
				Deployment: "relay-v2.4.0-9f1c2ab", ExecutionARN: execARN, RecordSource: "payload", Stable: "blue",
				Before: deploy.Weights{Blue: 90, Green: 10}, After: deploy.Weights{Blue: 100}, Changed: true, Stopped: true,
				StableHealthyBefore: 2, StableHealthyNow: 1, StableDegraded: true,
				Warnings: []string{"STABLE COLOUR DEGRADED: blue now has 1 healthy targets"}, ElapsedMs: 41.5,
			},
			rollback.Output{Action: rollback.ActionRestored, Stable: "blue", Before: deploy.Weights{Blue: 100}, After: deploy.Weights{Blue: 100}, Warnings: []string{}},
			rollback.Output{Action: rollback.ActionLeftAlone, Reason: "traffic left alone", Warnings: []string{}},
		},
		statedoc.Summary: {
			deploy.Summary{ID: "relay-v2.4.0-9f1c2ab", Version: "v2.4.0", From: deploy.Blue, To: deploy.Green, Weights: deploy.Weights{Green: 100},
				Strategy: "AllAtOnce", Steps: []int{100}, StartedAt: at, FinishedAt: at.Add(time.Minute), DurationSeconds: 60},
			deploy.Summary{Version: "v2.4.0", From: deploy.Blue, To: deploy.Green, Weights: deploy.Weights{Blue: 100}, DryRun: true},
		},
	}
}

func definition(t *testing.T) *stepfntest.Definition {
	t.Helper()
	d, err := stepfntest.LoadDefinition("../../infra/statemachine/deploy.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFactsSurviveTheResultSelectors is the contract between the renderer
// and the definition: for every Task state, the function's output kept by
// the state's ResultSelector reads exactly as the whole output does. A
// selector that drops a field the facts (or the CLI's report: weights,
// verdict, rollback) read, a field renamed in a Go type, or a renderer that
// reads a shape the functions do not return, fails here.
func TestFactsSurviveTheResultSelectors(t *testing.T) {
	def := definition(t)
	all := samples()
	for key, values := range all {
		checkPopulated(t, key, values)
	}
	written := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(def.States)) {
		st := def.States[name]
		if st.Type != "Task" {
			continue
		}
		key, err := stepfntest.Key(st.ResultPath)
		if err != nil {
			t.Errorf("state %q: %v", name, err)
			continue
		}
		written[key] = true
		values, ok := all[key]
		if !ok {
			t.Errorf("state %q writes $.%s, which statedoc does not know", name, key)
			continue
		}
		for i, v := range values {
			full, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			kept, err := def.Select(name, full)
			if err != nil {
				t.Errorf("state %q: %v", name, err)
				continue
			}
			want, got := read(key, full), read(key, kept)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state %q, sample %d: the kept output reads differently (-whole +kept):\n%s", name, i, diff)
			}
			if strings.HasPrefix(want, key+": ") {
				t.Errorf("state %q, sample %d: read as an unknown value: %s", name, i, want)
			}
		}
	}
	// Every key of the pipeline is written by the definition, except
	// $.error (Catch and Pass states).
	for _, k := range statedoc.Keys() {
		if !written[k] && k != statedoc.Error {
			t.Errorf("statedoc reads $.%s, which no Task state of the definition writes", k)
		}
	}
}

// read is everything the renderer makes of a value: its fact, and for a
// shift the bake it announces.
func read(key string, raw json.RawMessage) string {
	var v statedoc.Values
	text := v.Read(key, raw)
	if key == statedoc.Shift {
		_, bake, _ := v.Bake(statedoc.Doc{statedoc.Shift: raw})
		text += " | " + bake
	}
	return text
}

// checkPopulated fails when a top-level field of the samples of key is
// zero in all of them: the contract test could not see it dropped.
func checkPopulated(t *testing.T, key string, values []any) {
	t.Helper()
	set := map[string]bool{}
	var fields []string
	for _, v := range values {
		b, _ := json.Marshal(v)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for f, x := range m {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
			if x != nil && !reflect.ValueOf(x).IsZero() && !(reflect.ValueOf(x).Kind() == reflect.Slice && reflect.ValueOf(x).Len() == 0) {
				set[f] = true
			}
		}
	}
	for _, f := range fields {
		if !set[f] {
			t.Errorf("samples of $.%s: field %q is zero in every sample", key, f)
		}
	}
}

// TestErrorWritersMatchCaught: the Catches and the Pass states that stand
// for a failure write $.error as Caught reads it.
func TestErrorWritersMatchCaught(t *testing.T) {
	def := definition(t)
	for name, st := range def.States {
		for _, c := range st.Catch {
			if c.ResultPath != "$.error" {
				t.Errorf("state %q catches into %s, not $.error", name, c.ResultPath)
			}
		}
		if st.Type != "Pass" || st.ResultPath != "$.error" {
			continue
		}
		var keys []string
		for k := range st.Parameters {
			keys = append(keys, strings.TrimSuffix(k, ".$"))
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"Cause", "Error"}) {
			t.Errorf("Pass state %q writes $.error with %v, not Error and Cause", name, keys)
		}
	}
}

func TestChangedInPipelineOrder(t *testing.T) {
	before := statedoc.Parse(`{"version":"v2","preflight":{"id":"x"},"shift":{"next":0}}`)
	after := statedoc.Parse(`{"version":"v2","zeta":1,"rollback":{"action":"restored"},"preflight":{ "id" : "x" },"shift":{"next":0},"error":{"Error":"E"}}`)
	if diff := cmp.Diff([]string{"error", "rollback", "zeta"}, statedoc.Changed(before, after)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := statedoc.Parse(`[1,2]`); len(d) != 0 {
		t.Errorf("a JSON array parsed as %v", d)
	}
}

func TestFailureNamesTheErrorOnce(t *testing.T) {
	for _, tc := range []struct{ err, cause, want string }{
		{"TargetsNotReady", `{"errorMessage":"TargetsNotReady: green has 2 targets in their initial health checks","errorType":"TargetsNotReady"}`,
			"TargetsNotReady: green has 2 targets in their initial health checks"},
		{"Throttled", `{"errorMessage":"Rate exceeded","errorType":"Throttled"}`, "Throttled: Rate exceeded"},
		{"States.Timeout", "The execution timed out.", "States.Timeout: The execution timed out."},
		{"InternalError", `{"errorType":"InternalError"}`, `InternalError: {"errorType":"InternalError"}`},
		{"RolledBack", "", "RolledBack"},
		{"", "stopped by hand", "stopped by hand"},
		{"", ": not a prefix", ": not a prefix"},
	} {
		if got := statedoc.Failure(tc.err, tc.cause); got != tc.want {
			t.Errorf("Failure(%q, %q) = %q, want %q", tc.err, tc.cause, got, tc.want)
		}
	}
}

// TestReaderFollowsTheDocument: the reader takes the document from each
// entry, reports only what an exit changed, and keeps the typed values.
func TestReaderFollowsTheDocument(t *testing.T) {
	rec, _ := json.Marshal(samples()[statedoc.Preflight][0])
	var r statedoc.Reader
	var got []statedoc.Fact
	for _, e := range []stepfn.Event{
		{Type: "ExecutionStarted", Input: `{"version":"v2.4.0"}`},
		{Type: "TaskStateEntered", State: "Preflight", Input: `{"version":"v2.4.0"}`},
		{Type: "TaskStateExited", State: "Preflight", Output: `{"version":"v2.4.0","preflight":` + string(rec) + `}`},
		{Type: "PassStateEntered", State: "Start shifting", Input: `{"version":"v2.4.0","preflight":` + string(rec) + `}`},
		{Type: "PassStateExited", State: "Start shifting", Output: `{"version":"v2.4.0","preflight":` + string(rec) + `,"shift":{"next":0}}`},
		{Type: "TaskFailed", Error: "Throttled", Cause: "{}"},
		{Type: "TaskStateExited", State: "Shift traffic", Output: `{"version":"v2.4.0","preflight":` + string(rec) +
			`,"shift":{"next":0},"error":{"Error":"Throttled","Cause":"{\"errorMessage\":\"Throttled: Rate exceeded\"}"}}`},
	} {
		got = append(got, r.Event(e)...)
	}
	want := []statedoc.Fact{
		{Key: "preflight", Text: "stable blue (blue=100,green=0), candidate green; plan Linear10PercentEvery1Minute 10% -> 20% -> ... -> 100%, bake 1m0s, 5m0s after promotion [resumed] [dry run]"},
		{Key: "error", Text: "caught Throttled: Rate exceeded"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
	if r.Record == nil || r.Record.ID != "relay-v2.4.0-9f1c2ab" || r.Shift != nil || r.Error == nil || r.Error.Message() != "Rate exceeded" {
		t.Errorf("values: record %v, shift %v, error %v", r.Record, r.Shift, r.Error)
	}
}

// TestReadUnknownOrGarbled: a key the pipeline does not write, or a value
// that is not its key's type, reads as its scalar fields and leaves no
// stale typed value behind.
func TestReadUnknownOrGarbled(t *testing.T) {
	rec, _ := json.Marshal(samples()[statedoc.Preflight][0])
	var v statedoc.Values
	v.Read(statedoc.Preflight, rec)
	for _, tc := range []struct {
		key, raw, want string
	}{
		{"zeta", `{"b":"x","a":1,"on":true,"off":false}`, "zeta: a=1 b=x on"},
		{statedoc.Preflight, `{"id":"x","stable":"purple"}`, "preflight: id=x stable=purple"},
		{statedoc.Rollback, `"restored"`, `rollback: "restored"`},
	} {
		if got := v.Read(tc.key, json.RawMessage(tc.raw)); got != tc.want {
			t.Errorf("Read(%s, %s) = %q, want %q", tc.key, tc.raw, got, tc.want)
		}
	}
	if v.Record != nil || v.Rollback != nil {
		t.Errorf("garbled values kept: record %v, rollback %v", v.Record, v.Rollback)
	}
}
