package demo

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/stepfn"
)

var at0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// served returns n outcomes served by colour with status.
func served(n int, colour string, status int) []loadgen.Outcome {
	var out []loadgen.Outcome
	for i := range n {
		out = append(out, loadgen.Outcome{At: at0.Add(time.Duration(i) * 10 * time.Millisecond), Colour: colour, Status: status})
	}
	return out
}

func TestJudge(t *testing.T) {
	green := deploy.Weights{Green: 100}
	split := deploy.Weights{Blue: 10, Green: 90}
	promoted := func() *Story {
		return &Story{Version: "v2", Candidate: "green", Stable: "green", Want: wantPromoted,
			Status: "SUCCEEDED", Weights: &green, After: served(20, "green", http.StatusOK)}
	}
	rolledBackBy := func(path string) *Story {
		return &Story{Version: "v3", Candidate: "blue", Stable: "green", Want: wantRolledBack,
			Status: "ABORTED", Error: string(deploy.RolledBack), Path: path, Weights: &green, After: served(20, "green", http.StatusOK)}
	}
	for _, tc := range []struct {
		name  string
		story *Story
		want  []string // substrings, one per problem
	}{
		{"promoted as expected", promoted(), nil},
		{"rolled back by the alarm", rolledBackBy(PathAlarm), nil},
		{"rolled back by the evaluation", rolledBackBy(PathEvaluate), nil},
		{"rolled back by something else", rolledBackBy(PathPipeline), []string{`rolled back by "pipeline failure"`}},
		{"not promoted", func() *Story { s := promoted(); s.Status, s.Error = "FAILED", "RolledBack"; return s }(),
			[]string{"want SUCCEEDED: v2 was not promoted"}},
		{"promoted when it should have been rolled back", func() *Story { s := rolledBackBy(""); s.Status, s.Error = "SUCCEEDED", ""; return s }(),
			[]string{"want error RolledBack: v3 was not rolled back"}},
		{"weights still split", func() *Story { s := rolledBackBy(PathAlarm); s.Weights = &split; return s }(),
			[]string{"weights blue=10,green=90, want all traffic on green"}},
		{"weights unread", func() *Story { s := promoted(); s.Weights, s.WeightsErr = nil, "Throttled"; return s }(),
			[]string{"through the ELBv2 API: Throttled"}},
		{"real requests still on the candidate", func() *Story {
			s := rolledBackBy(PathAlarm)
			s.After = append(served(15, "green", http.StatusOK), served(5, "blue", http.StatusInternalServerError)...)
			return s
		}(), []string{"5 of 20 real requests after the end were not served by green", "5 of 20 real requests after the end did not succeed"}},
		{"too few requests to verify", func() *Story { s := promoted(); s.After = served(3, "green", http.StatusOK); return s }(),
			[]string{"only 3 real requests after the end"}},
		{"interrupted before the end", &Story{Version: "v2", Want: wantPromoted, Err: errTimeout}, []string{"out of time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.story.judge()
			if len(tc.story.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d like %q", tc.story.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(tc.story.Problems[i], w) {
					t.Errorf("problem %q does not say %q", tc.story.Problems[i], w)
				}
			}
		})
	}
}

const execARN = "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:relay-v3-3bd7c40"

func delivery(t *testing.T, o rollback.Output, at time.Time) eventbus.Delivery {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	event := `{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","detail":{"alarmName":"relayshift-relay-blue-5xx-rate",` +
		`"state":{"value":"ALARM","timestamp":"2026-11-27T12:00:08.500+0000"},"previousState":{"value":"OK"}}}`
	return eventbus.Delivery{Rule: "relayshift-RollbackFunctionPipelineAlarm", Function: "relayshift-RollbackFunction",
		Event: []byte(event), Received: at.Add(-2 * time.Millisecond), Delivered: at, Attempts: 1, Response: b}
}

func exited(at time.Time, doc string) stepfn.Event {
	return stepfn.Event{Type: "TaskStateExited", State: "Roll back", Time: at, Output: doc}
}

func TestRollbackPath(t *testing.T) {
	restoredAt := at0.Add(9 * time.Second)
	alarmOut := rollback.Output{Action: rollback.ActionRestored, Trigger: rollback.Trigger{Kind: "alarm", Via: "eventbridge", AlarmName: "relayshift-relay-blue-5xx-rate"},
		ExecutionARN: execARN, Stopped: true, Changed: true, Before: deploy.Weights{Blue: 10, Green: 90}, After: deploy.Weights{Green: 100}}
	// A restore of traffic that an earlier stop had already moved back
	// (the rollback function found the execution stopped).
	notStopped := alarmOut
	notStopped.Stopped = false
	// What the lab's Restored finds for the execution.
	restoredBy := func(d *eventbus.Delivery) func(string) (eventbus.Delivery, rollback.Output, bool) {
		return func(arn string) (eventbus.Delivery, rollback.Output, bool) {
			var o rollback.Output
			if d == nil || json.Unmarshal(d.Response, &o) != nil || o.ExecutionARN != arn {
				return eventbus.Delivery{}, rollback.Output{}, false
			}
			return *d, o, true
		}
	}
	ptr := func(d eventbus.Delivery) *eventbus.Delivery { return &d }
	evaluated := `{"shift":{"percent":10},"verdict":{"verdict":"rollback","reasons":["candidate blue error rate 25.00% exceeds the maximum 1.00%"]},` +
		`"error":{"Error":"CandidateUnhealthy","Cause":"evaluation at 10% decided rollback"},"rollback":{"action":"restored"}}`
	caught := `{"error":{"Error":"WarmupFailed","Cause":"{\"errorMessage\":\"sim-small: 3 of 15 failed\",\"errorType\":\"WarmupFailed\"}"},"rollback":{"action":"restored"}}`

	for _, tc := range []struct {
		name     string
		det      stepfn.Detail
		history  []stepfn.Event
		restored *eventbus.Delivery
		want     rolledBack
		detail   string
	}{
		{"promoted", stepfn.Detail{ARN: execARN, Status: "SUCCEEDED"}, nil, nil, rolledBack{}, ""},
		{"stopped by the rollback function on an alarm event",
			stepfn.Detail{ARN: execARN, Status: "ABORTED", Error: "RolledBack"}, nil, ptr(delivery(t, alarmOut, restoredAt)),
			rolledBack{Path: PathAlarm, Restored: restoredAt, Alarm: "relayshift-relay-blue-5xx-rate", AlarmAt: at0.Add(8500 * time.Millisecond)},
			"EventBridge rule relayshift-RollbackFunctionPipelineAlarm delivered the state-change event to relayshift-RollbackFunction"},
		{"stopped, but not by an alarm event", stepfn.Detail{ARN: execARN, Status: "ABORTED", Error: "RolledBack", Cause: "manual"}, nil,
			nil, rolledBack{Path: PathStopped}, "no alarm event"},
		{"stopped by someone else, then restored on an alarm", stepfn.Detail{ARN: execARN, Status: "ABORTED", Error: "RolledBack", Cause: "manual"}, nil,
			ptr(delivery(t, notStopped, restoredAt)), rolledBack{Path: PathStopped}, "no alarm event"},
		{"the evaluation's verdict", stepfn.Detail{ARN: execARN, Status: "FAILED", Error: "RolledBack"},
			[]stepfn.Event{{Type: "TaskStateEntered", State: "Roll back", Time: at0}, exited(restoredAt, evaluated), {Type: "FailStateEntered", Time: restoredAt}}, nil,
			rolledBack{Path: PathEvaluate, Restored: restoredAt}, "the evaluation at 10% on the candidate decided rollback: candidate blue error rate 25.00%"},
		{"a caught failure", stepfn.Detail{ARN: execARN, Status: "FAILED", Error: "RolledBack"},
			[]stepfn.Event{exited(restoredAt, caught)}, nil,
			rolledBack{Path: PathPipeline, Restored: restoredAt}, "WarmupFailed: sim-small: 3 of 15 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rollbackPath(tc.det, tc.history, restoredBy(tc.restored))
			if !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", got.Detail, tc.detail)
			}
			got.Detail = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOnsetToStable(t *testing.T) {
	s := &Story{Onset: at0, Restored: at0.Add(8300 * time.Millisecond)}
	if got := s.OnsetToStable(); got != 8300*time.Millisecond {
		t.Fatalf("%s", got)
	}
	if got := (&Story{Onset: at0}).OnsetToStable(); got != 0 {
		t.Fatalf("without a restore: %s, want 0", got)
	}
}
