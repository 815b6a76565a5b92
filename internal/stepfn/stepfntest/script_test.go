package stepfntest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestScriptFollowsTheDefinition: a script checked against the real
// definition keeps what the ResultSelectors keep, and each way of straying
// from the definition is reported.
func TestScriptFollowsTheDefinition(t *testing.T) {
	def, err := LoadDefinition("../../../infra/statemachine/deploy.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	record := map[string]any{"id": "x", "executionArn": "a", "version": "v2", "image": "i", "commit": "c", "stable": "blue",
		"candidate": "green", "before": map[string]int{"blue": 100}, "stableHealthy": 2, "plan": map[string]any{}, "dryRun": false,
		"resumed": false, "startedAt": "2026-11-27T10:00:00Z", "extra": "dropped by the ResultSelector"}
	for _, tc := range []struct {
		name   string
		script func(s *Script)
		want   string // what the script is told, "" for nothing
	}{
		{"follows the definition", func(s *Script) {
			s.Task("Preflight", time.Second, "preflight", record)
			if _, ok := s.doc["preflight"]; !ok || strings.Contains(string(s.doc["preflight"]), "extra") {
				t.Errorf("preflight kept as %s", s.doc["preflight"])
			}
			s.Enter("Task", "Release candidate").Fail(time.Second, "ReleaseFailed", "no").Catch("error")
			s.Enter("Task", "Roll back")
		}, ""},
		{"unknown state", func(s *Script) { s.Task("Preflight", time.Second, "preflight", record).Enter("Task", "Release") },
			`no state "Release"`},
		{"wrong type", func(s *Script) { s.Enter("Pass", "Preflight") }, `"Preflight" is a Task state, not Pass`},
		{"not the start", func(s *Script) { s.Enter("Task", "Shift traffic") }, `starts at "Preflight"`},
		{"skips a state", func(s *Script) {
			s.Task("Preflight", time.Second, "preflight", record).Enter("Task", "Check candidate health")
		}, `cannot follow "Preflight"`},
		{"other key", func(s *Script) { s.Task("Preflight", time.Second, "record", record) }, `writes ResultPath "$.preflight", not $.record`},
		{"missing field", func(s *Script) { s.Task("Preflight", time.Second, "preflight", map[string]string{"id": "x"}) },
			`the function's output lacks (States.Runtime on AWS): before, candidate, commit, dryRun, executionArn, image, plan, resumed, stable, stableHealthy, startedAt, version`},
		{"no catch", func(s *Script) { s.Enter("Task", "Preflight").Fail(time.Second, "X", "y").Catch("error") }, `has no Catch for X`},
		{"caught", func(s *Script) {
			s.Task("Preflight", time.Second, "preflight", record).Enter("Task", "Release candidate").Fail(time.Second, "X", "y").Uncaught()
		}, `catches X`},
		{"wrong wait", func(s *Script) {
			s.Task("Preflight", time.Second, "preflight", record)
			s.Task("Release candidate", time.Second, "release", releaseOutput("IN_PROGRESS"))
			s.Choice("Release status")
			s.Wait("Wait for release", time.Minute)
		}, `waits 15s, not 1m0s`},
		{"wrong pass result", func(s *Script) {
			s.stateAfter("Warm up candidate").Pass("Start shifting", "shift", map[string]int{"next": 1})
		},
			`writes {`},
		{"wrong fail cause", func(s *Script) {
			s.stateAfter("Roll back")
			s.Set("rollback", map[string]string{"reason": "restored"})
			s.FailState("Rolled back", "RolledBack", "something else")
		}, `fails with RolledBack ("restored")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			s := newScript(`{"version":"v2"}`, def, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
			tc.script(s)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("told %q", got)
			case tc.want != "" && (len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tc.want)):
				t.Errorf("told %q, want it to say %q", got, tc.want)
			}
		})
	}
}

// stateAfter puts the script in state name, as if it had just run it.
func (s *Script) stateAfter(name string) *Script {
	s.state, s.typ = name, s.def.States[name].Type
	return s
}

func releaseOutput(status string) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"mode", "action", "dryRun", "colour", "cluster", "service", "container", "image", "taskDefinition",
		"previousTaskDefinition", "changed", "ecsDeploymentId", "rolloutState", "runningCount", "desiredCount", "checks",
		"maxChecks", "message", "startedAt", "checkedAt"} {
		out[k] = json.RawMessage(`""`)
	}
	out["status"] = status
	return out
}
