package rollback_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alarmevent/alarmeventtest"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/rollback"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	sm     = "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy"
	prefix = "relay-"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counting wraps the fakes and counts every port call, to prove that
// ignored and rejected events touch nothing.
type countingRouter struct {
	*deploytest.Router
	calls atomic.Int64
}

func (r *countingRouter) Weights(ctx context.Context) (deploy.Weights, error) {
	r.calls.Add(1)
	return r.Router.Weights(ctx)
}

func (r *countingRouter) SetWeights(ctx context.Context, w deploy.Weights) (deploy.Weights, error) {
	r.calls.Add(1)
	return r.Router.SetWeights(ctx, w)
}

func (r *countingRouter) Tags(ctx context.Context) (map[string]string, error) {
	r.calls.Add(1)
	return r.Router.Tags(ctx)
}

func (r *countingRouter) Tag(ctx context.Context, set map[string]string, remove []string) error {
	r.calls.Add(1)
	return r.Router.Tag(ctx, set, remove)
}

func (r *countingRouter) Health(ctx context.Context, c deploy.Colour) (deploy.Health, error) {
	r.calls.Add(1)
	return r.Router.Health(ctx, c)
}

type countingExecutions struct {
	*deploytest.Executions
	calls atomic.Int64
}

func (e *countingExecutions) Describe(ctx context.Context, arn string) (deploy.Execution, error) {
	e.calls.Add(1)
	return e.Executions.Describe(ctx, arn)
}

func (e *countingExecutions) Running(ctx context.Context, sm string) ([]deploy.Execution, error) {
	e.calls.Add(1)
	return e.Executions.Running(ctx, sm)
}

func (e *countingExecutions) Stop(ctx context.Context, arn, name, cause string) error {
	e.calls.Add(1)
	return e.Executions.Stop(ctx, arn, name, cause)
}

func (e *countingExecutions) Record(ctx context.Context, arn string) (deploy.Record, error) {
	e.calls.Add(1)
	return e.Executions.Record(ctx, arn)
}

// world is a listener mid-deployment: blue stable with three healthy
// targets, green at 10%, one running execution.
type world struct {
	router *countingRouter
	execs  *countingExecutions
	rec    deploy.Record
	h      *rollback.Handler
}

func newWorld(t testing.TB, historyRecord bool) *world {
	t.Helper()
	r := &countingRouter{Router: deploytest.NewRouter(deploy.Weights{Blue: 1})}
	r.SetHealth(deploy.Blue, deploy.Health{Total: 3, Healthy: 3})
	execs := &countingExecutions{Executions: deploytest.NewExecutions()}
	w := &world{router: r, execs: execs}
	w.deploy(t, "relay-v2-abc1234", historyRecord)
	w.h = &rollback.Handler{Router: r, Targets: r, Executions: execs, StateMachineARN: sm, AlarmPrefix: prefix,
		Now: func() time.Time { return t0 }}
	return w
}

// deploy starts an execution, runs Preflight and the first Shift (10%).
func (w *world) deploy(t testing.TB, name string, historyRecord bool) {
	t.Helper()
	ctx := context.Background()
	arn := w.execs.Start(name, t0)
	p := &deploy.Preflight{Router: w.router.Router, Executions: w.execs.Executions, Targets: w.router.Router, Service: "relay",
		DefaultStrategy: deploy.Strategy{Steps: []int{10, 100}, BakeSeconds: 60}, Now: func() time.Time { return t0 }}
	rec, err := p.Handle(ctx, quietLog(), deploy.PreflightInput{ExecutionARN: arn, Request: deploy.Request{Version: "v2", Commit: "abc1234"}})
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if historyRecord {
		w.execs.SetRecord(arn, rec)
	}
	s := &deploy.Shift{Router: w.router.Router, Targets: w.router.Router, Executions: w.execs.Executions, Now: func() time.Time { return t0 }}
	if _, err := s.Handle(ctx, quietLog(), deploy.ShiftInput{ExecutionARN: arn, Deployment: rec, Step: 0}); err != nil {
		t.Fatalf("shift: %v", err)
	}
	w.rec = rec
	w.router.calls.Store(0)
	w.execs.calls.Store(0)
}

func (w *world) weights(t testing.TB) deploy.Weights {
	t.Helper()
	got, err := w.router.Router.Weights(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (w *world) calls() int64 { return w.router.calls.Load() + w.execs.calls.Load() }

// invoke runs the handler behind the Lambda edge, as the bootstrap does.
func (w *world) invoke(t testing.TB, payload []byte) (rollback.Output, string) {
	t.Helper()
	edge := deploy.NewEdge("rollback", quietLog(), w.h.Handle)
	b, err := edge.Invoke(context.Background(), payload)
	if err != nil {
		var le messages.InvokeResponse_Error
		if !errors.As(err, &le) {
			t.Fatalf("edge returned %T %v", err, err)
		}
		return rollback.Output{}, le.Type
	}
	var out rollback.Output
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("output %s: %v", b, err)
	}
	return out, ""
}

func alarmName(t testing.TB, b []byte) string {
	t.Helper()
	var v struct {
		Detail    struct{ AlarmName string } `json:"detail"`
		AlarmData struct{ AlarmName string } `json:"alarmData"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Detail.AlarmName + v.AlarmData.AlarmName
}

// TestDocumentedSamplesRoute: every AWS-documented sample decodes and is
// routed: renamed into the pipeline's prefix and in ALARM it rolls back;
// in OK or INSUFFICIENT_DATA, or under its own (foreign) name, it is
// ignored without any AWS call.
func TestDocumentedSamplesRoute(t *testing.T) {
	for _, file := range alarmeventtest.Samples() {
		t.Run(file, func(t *testing.T) {
			raw := alarmeventtest.Sample(t, file)
			name := prefix + strings.ReplaceAll(alarmName(t, raw), " ", "-")
			for _, tc := range []struct {
				variant    string
				payload    []byte
				wantAction string
			}{
				{"pipeline alarm in ALARM", alarmeventtest.WithAlarm(t, raw, name, "ALARM"), rollback.ActionRestored},
				{"pipeline alarm into OK", alarmeventtest.WithAlarm(t, raw, name, "OK"), rollback.ActionIgnored},
				{"pipeline alarm into INSUFFICIENT_DATA", alarmeventtest.WithAlarm(t, raw, name, "INSUFFICIENT_DATA"), rollback.ActionIgnored},
				{"foreign alarm as documented", raw, rollback.ActionIgnored},
			} {
				t.Run(tc.variant, func(t *testing.T) {
					w := newWorld(t, false)
					out, errType := w.invoke(t, tc.payload)
					if errType != "" {
						t.Fatalf("error %s", errType)
					}
					if out.Action != tc.wantAction {
						t.Fatalf("action %q, want %q: %s", out.Action, tc.wantAction, out.Reason)
					}
					if tc.wantAction == rollback.ActionIgnored {
						if w.weights(t) != (deploy.Weights{Blue: 90, Green: 10}) || w.calls() != 0 {
							t.Fatalf("ignored event touched AWS: %d calls, weights %s", w.calls(), w.weights(t))
						}
						return
					}
					if got := w.weights(t); got != (deploy.Weights{Blue: 1}) {
						t.Fatalf("weights %s after rollback", got)
					}
					if x, _ := w.execs.Describe(context.Background(), w.rec.ExecutionARN); x.Status != "ABORTED" {
						t.Fatalf("execution %s", x.Status)
					}
					if stops := w.execs.Stops(); len(stops) != 1 || !strings.Contains(stops[0], "RolledBack") || !strings.Contains(stops[0], name) {
						t.Fatalf("stops %v: the cause must name the alarm", stops)
					}
					if out.Trigger.AlarmName != name || out.Trigger.State != "ALARM" || !out.Stopped || !out.Changed ||
						out.Before != (deploy.Weights{Blue: 90, Green: 10}) || out.After != (deploy.Weights{Blue: 1}) {
						t.Fatalf("output %+v", out)
					}
				})
			}
		})
	}
}

func TestConfigurationChangeIgnored(t *testing.T) {
	w := newWorld(t, false)
	raw := alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-composite-configuration-change.json"), prefix+"any", "ALARM")
	out, errType := w.invoke(t, raw)
	if errType != "" || out.Action != rollback.ActionIgnored || w.calls() != 0 {
		t.Fatalf("%s %+v calls %d", errType, out, w.calls())
	}
}

func TestSameEventTwiceWritesOnce(t *testing.T) {
	w := newWorld(t, false)
	ev := alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"target-5xx", "ALARM")
	first, _ := w.invoke(t, ev)
	second, _ := w.invoke(t, ev)
	if first.Action != rollback.ActionRestored || second.Action != rollback.ActionNothing {
		t.Fatalf("first %q, second %q (%s)", first.Action, second.Action, second.Reason)
	}
	// The shift's write and one restore.
	if writes := w.router.Writes(); len(writes) != 2 || writes[1] != (deploy.Weights{Blue: 1}) {
		t.Fatalf("writes %v", writes)
	}
	if len(w.execs.Stops()) != 1 {
		t.Fatalf("stops %v", w.execs.Stops())
	}
}

func TestGarbledAndForeignPayloads(t *testing.T) {
	for _, tc := range []struct {
		name, payload, wantErr, wantAction string
	}{
		{name: "truncated JSON", payload: `{"source":"aws.cloudwatch","detail-type":`, wantErr: "InvalidInput"},
		{name: "not JSON", payload: `ALARM!`, wantErr: "InvalidInput"},
		{name: "empty", payload: ``, wantErr: "InvalidInput"},
		{name: "trailing data", payload: `{"source":"aws.cloudwatch"} {}`, wantErr: "InvalidInput"},
		{name: "alarm event with a wrongly typed field", payload: `{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change","detail":{"alarmName":7}}`, wantErr: "InvalidInput"},
		{name: "alarm event without an alarm name", payload: `{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change","detail":{"state":{"value":"ALARM"}}}`, wantErr: "InvalidInput"},
		{name: "alarm action without a state", payload: `{"source":"aws.cloudwatch","alarmData":{"alarmName":"relay-x"}}`, wantErr: "InvalidInput"},
		{name: "pipeline payload with an unknown field", payload: `{"source":"pipeline","colour":"green"}`, wantErr: "InvalidInput"},
		{name: "another service's event", payload: `{"version":"0","source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}`, wantAction: rollback.ActionIgnored},
		{name: "an empty object", payload: `{}`, wantAction: rollback.ActionIgnored},
		{name: "null", payload: `null`, wantAction: rollback.ActionIgnored},
		{name: "an array", payload: `[1,2]`, wantAction: rollback.ActionIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, false)
			out, errType := w.invoke(t, []byte(tc.payload))
			if errType != tc.wantErr || out.Action != tc.wantAction {
				t.Fatalf("error %q action %q (%s), want error %q action %q", errType, out.Action, out.Reason, tc.wantErr, tc.wantAction)
			}
			if w.calls() != 0 || w.weights(t) != (deploy.Weights{Blue: 90, Green: 10}) {
				t.Fatalf("touched AWS: %d calls", w.calls())
			}
		})
	}
}

func TestNothingToRollBack(t *testing.T) {
	w := newWorld(t, false)
	ev := alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "lambda-action-metric.json"), prefix+"p99", "ALARM")
	if _, e := w.invoke(t, ev); e != "" { // rolls back the running one
		t.Fatal(e)
	}
	writes := len(w.router.Writes())
	out, errType := w.invoke(t, ev)
	if errType != "" || out.Action != rollback.ActionNothing || !strings.Contains(out.Reason, "nothing to roll back") {
		t.Fatalf("%s %+v", errType, out)
	}
	if len(w.router.Writes()) != writes {
		t.Fatal("nothing to roll back, yet it wrote")
	}
}

// An alarm after a deployment finished does not move traffic.
func TestAlarmAfterCompletion(t *testing.T) {
	w := newWorld(t, true)
	w.execs.Finish(w.rec.ExecutionARN, deploy.Succeeded)
	out, _ := w.invoke(t, alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"5xx", "ALARM"))
	if out.Action != rollback.ActionNothing || w.weights(t) != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("%+v weights %s", out, w.weights(t))
	}
}

func TestRecordFromHistory(t *testing.T) {
	w := newWorld(t, true)
	out, _ := w.invoke(t, alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-composite.json"), prefix+"any", "ALARM"))
	if out.Action != rollback.ActionRestored || out.RecordSource != "history" || out.Deployment != "relay-v2-abc1234" {
		t.Fatalf("%+v", out)
	}
}

func TestHolderWithoutRecordIsStopped(t *testing.T) {
	r := &countingRouter{Router: deploytest.NewRouter(deploy.Weights{Blue: 1})}
	execs := &countingExecutions{Executions: deploytest.NewExecutions()}
	arn := execs.Start("relay-v3", t0) // still in Preflight: no record, no tags
	h := &rollback.Handler{Router: r, Targets: r, Executions: execs, StateMachineARN: sm, AlarmPrefix: prefix, Now: func() time.Time { return t0 }}
	w := &world{router: r, execs: execs, h: h}
	out, errType := w.invoke(t, alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"5xx", "ALARM"))
	if errType != "" || out.Action != rollback.ActionStopped || !out.Stopped || out.ExecutionARN != arn {
		t.Fatalf("%s %+v", errType, out)
	}
	if len(r.Writes()) != 0 {
		t.Fatal("wrote weights for a deployment that moved no traffic")
	}
}

func TestRetryAfterFailedRestore(t *testing.T) {
	w := newWorld(t, false)
	ev := alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"5xx", "ALARM")
	failing := *w.h
	failing.Router = &throttledWrites{Router: w.router.Router}
	edge := deploy.NewEdge("rollback", quietLog(), failing.Handle)
	_, err := edge.Invoke(context.Background(), ev)
	var le messages.InvokeResponse_Error
	if !errors.As(err, &le) || le.Type != "Throttled" {
		t.Fatalf("first attempt: %v", err)
	}
	// Lambda retries the asynchronous invocation.
	out, errType := w.invoke(t, ev)
	if errType != "" || out.Action != rollback.ActionRestored || out.Stopped || w.weights(t) != (deploy.Weights{Blue: 1}) {
		t.Fatalf("retry: %s %+v", errType, out)
	}
}

type throttledWrites struct{ *deploytest.Router }

func (r *throttledWrites) SetWeights(context.Context, deploy.Weights) (deploy.Weights, error) {
	return deploy.Weights{}, deploy.Errorf(deploy.Throttled, "modify listener: rate exceeded")
}

func TestStableDegradedStillRestores(t *testing.T) {
	w := newWorld(t, false)
	w.router.SetHealth(deploy.Blue, deploy.Health{Total: 3, Healthy: 1, Unhealthy: 2})
	out, errType := w.invoke(t, alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"5xx", "ALARM"))
	if errType != "" || out.Action != rollback.ActionRestored || w.weights(t) != (deploy.Weights{Blue: 1}) {
		t.Fatalf("%s %+v", errType, out)
	}
	if !out.StableDegraded || out.StableHealthyBefore != 3 || out.StableHealthyNow != 1 ||
		len(out.Warnings) != 1 || !strings.Contains(out.Reason, "STABLE COLOUR DEGRADED") {
		t.Fatalf("degraded stable not reported: %+v", out)
	}
}

func pipelinePayload(rec deploy.Record, extra string) []byte {
	b, _ := json.Marshal(rec)
	return fmt.Appendf(nil, `{"source":"pipeline","executionArn":%q,"deployment":%s,"error":{"Error":"WeightNotApplied","Cause":"wrote blue=90,green=10, read back blue=1,green=0"}%s}`,
		rec.ExecutionARN, b, extra)
}

func TestPipelinePath(t *testing.T) {
	t.Run("restores", func(t *testing.T) {
		w := newWorld(t, false)
		out, errType := w.invoke(t, pipelinePayload(w.rec, ""))
		if errType != "" || out.Action != rollback.ActionRestored || out.Stopped || out.RecordSource != "payload" {
			t.Fatalf("%s %+v", errType, out)
		}
		if !strings.Contains(out.Reason, "failed with WeightNotApplied") || w.weights(t) != (deploy.Weights{Blue: 1}) {
			t.Fatalf("reason %q weights %s", out.Reason, w.weights(t))
		}
		if len(w.execs.Stops()) != 0 {
			t.Fatal("the pipeline path stopped its own execution")
		}
		// The state machine retries the task: no second write.
		again, _ := w.invoke(t, pipelinePayload(w.rec, ""))
		if again.Action != rollback.ActionRestored || again.Changed || len(w.router.Writes()) != 2 {
			t.Fatalf("again %+v writes %v", again, w.router.Writes())
		}
	})
	t.Run("a Lambda error document as cause shows its message", func(t *testing.T) {
		// On AWS, a caught lambda:invoke failure's Cause is the function's
		// error document as JSON text.
		w := newWorld(t, false)
		b, _ := json.Marshal(w.rec)
		doc, _ := json.Marshal(`{"errorMessage":"WarmupFailed: model sim-small: 5xx=3 of 15","errorType":"WarmupFailed"}`)
		p := fmt.Appendf(nil, `{"source":"pipeline","executionArn":%q,"deployment":%s,"error":{"Error":"WarmupFailed","Cause":%s}}`, w.rec.ExecutionARN, b, doc)
		out, errType := w.invoke(t, p)
		if errType != "" || !strings.Contains(out.Reason, "failed with WarmupFailed (model sim-small: 5xx=3 of 15);") || strings.Contains(out.Reason, "errorType") {
			t.Fatalf("%s reason %q", errType, out.Reason)
		}
	})
	t.Run("loser of the lock leaves traffic alone", func(t *testing.T) {
		w := newWorld(t, false)
		loser := w.rec
		loser.ID, loser.ExecutionARN = "relay-v3", w.execs.Start("relay-v3", t0.Add(time.Second))
		out, errType := w.invoke(t, pipelinePayload(loser, ""))
		if errType != "" || out.Action != rollback.ActionLeftAlone || w.weights(t) != (deploy.Weights{Blue: 90, Green: 10}) {
			t.Fatalf("%s %+v", errType, out)
		}
	})
	t.Run("invalid payloads touch nothing", func(t *testing.T) {
		w := newWorld(t, false)
		other := w.rec
		other.ExecutionARN = deploytest.ExecutionARN("other")
		for name, p := range map[string][]byte{
			"unknown field":      pipelinePayload(w.rec, `,"extra":1`),
			"execution mismatch": []byte(strings.Replace(string(pipelinePayload(w.rec, "")), `"executionArn":"`+w.rec.ExecutionARN+`","deployment"`, `"executionArn":"`+other.ExecutionARN+`","deployment"`, 1)),
			"no error":           []byte(`{"source":"pipeline","executionArn":"` + w.rec.ExecutionARN + `","deployment":` + string(must(json.Marshal(w.rec))) + `,"error":{}}`),
		} {
			if _, errType := w.invoke(t, p); errType != "InvalidInput" {
				t.Errorf("%s: error %q, want InvalidInput", name, errType)
			}
		}
		if w.calls() != 0 {
			t.Fatalf("%d calls", w.calls())
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestOutputDocument pins the output the Step Functions console shows:
// every field present.
func TestOutputDocument(t *testing.T) {
	w := newWorld(t, false)
	ev := alarmeventtest.WithAlarm(t, alarmeventtest.Sample(t, "eventbridge-single-metric.json"), prefix+"target-5xx", "ALARM")
	edge := deploy.NewEdge("rollback", quietLog(), w.h.Handle)
	b, err := edge.Invoke(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	path := filepath.Join("testdata", "output-alarm-restored.json")
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), strings.TrimSpace(string(got))); diff != "" {
		t.Fatalf("output (-want +got):\n%s", diff)
	}
}

// BenchmarkRollbackHandler measures the warm handler against in-process
// fakes: decode the EventBridge event, find the running deployment, stop
// it, restore the weights, check the stable colour's health.
func BenchmarkRollbackHandler(b *testing.B) {
	ev := alarmeventtest.WithAlarm(b, alarmeventtest.Sample(b, "eventbridge-single-metric.json"), prefix+"target-5xx", "ALARM")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, false)
		edge := deploy.NewEdge("rollback", quietLog(), w.h.Handle)
		b.StartTimer()
		out, err := edge.Invoke(context.Background(), ev)
		b.StopTimer()
		if err != nil || !strings.Contains(string(out), `"action":"restored"`) {
			b.Fatalf("%v %s", err, out)
		}
		b.StartTimer()
	}
}
