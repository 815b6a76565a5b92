package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/alarmevent/alarmeventtest"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/rollback"
)

const alarmPrefix = "relay-"

var (
	rollbackOnce sync.Once
	rollbackBin  string
)

// rollbackSetup is the traffic core plus the rollback bootstrap under
// aws-lambda-rie, pointed at the backend through the recorder.
type rollbackSetup struct {
	*trafficCore
	rollback *emulators.Function
	sfn      *sfn.Client
}

func startRollback(t testing.TB, backend string) *rollbackSetup {
	t.Helper()
	c := startTrafficCore(t, backend, nil)
	rollbackOnce.Do(func() { rollbackBin = emulators.BuildFunction(t, binDir, "rollback") })
	env := emulators.Env(c.aws.URL)
	maps.Copy(env, c.alb.Env())
	env["RELAYSHIFT_STATE_MACHINE_ARN"] = c.sm
	env["RELAYSHIFT_ALARM_PREFIX"] = alarmPrefix
	return &rollbackSetup{
		trafficCore: c,
		rollback:    emulators.StartFunction(t, "rollback", rollbackBin, env),
		sfn:         sfn.NewFromConfig(emulators.AWSConfig(c.aws.Direct)),
	}
}

// deploy starts an execution, runs preflight and the first shift (10%), as
// the state machine would, and returns the execution's ARN.
func (s *rollbackSetup) deploy(t testing.TB, name string) string {
	t.Helper()
	arn := emulators.StartExecution(t, s.aws.Direct, s.sm, name)
	var rec deploy.Record
	s.preflight.MustSucceed(t, map[string]any{
		"executionArn": arn,
		"request":      map[string]any{"version": name, "strategy": map[string]any{"steps": []int{10, 100}, "bakeSeconds": 60}},
	}, &rec)
	if rec.StableHealthy != 1 {
		t.Fatalf("preflight recorded %d healthy stable targets, want 1 (moto reports every registered target healthy; the lab's is)", rec.StableHealthy)
	}
	s.shift.MustSucceed(t, map[string]any{"executionArn": arn, "deployment": rec, "step": 0}, nil)
	if got := s.weights(t, false); got != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("after the shift the backend holds %s", got)
	}
	return arn
}

func (s *rollbackSetup) status(t testing.TB, arn string) string {
	t.Helper()
	out, err := s.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Status)
}

// elbWrites returns the recorded ELBv2 calls that change something.
func elbWrites(m *emulators.Moto) []string {
	var out []string
	for _, c := range m.Calls() {
		if c.Service == "elasticloadbalancing" && !strings.HasPrefix(c.Action, "Describe") {
			out = append(out, c.Action)
		}
	}
	return out
}

// TestEmulatorRollbackDocumentedSamples runs the rollback bootstrap under
// aws-lambda-rie against each backend for each AWS-documented alarm sample.
func TestEmulatorRollbackDocumentedSamples(t *testing.T) {
	forEachBackend(t, testRollbackDocumentedSamples)
}

func testRollbackDocumentedSamples(t *testing.T, backend string) {
	s := startRollback(t, backend)
	for i, file := range alarmeventtest.Samples() {
		t.Run(file, func(t *testing.T) {
			raw := alarmeventtest.Sample(t, file)
			name := alarmPrefix + "target-5xx"
			arn := s.deploy(t, fmt.Sprintf("relay-v%d-sample", i+2))

			for _, tc := range []struct {
				variant string
				payload []byte
			}{
				{"foreign alarm name, as documented", raw},
				{"pipeline alarm into OK", alarmeventtest.WithAlarm(t, raw, name, alarmevent.StateOK)},
				{"pipeline alarm into INSUFFICIENT_DATA", alarmeventtest.WithAlarm(t, raw, name, alarmevent.StateInsufficientData)},
			} {
				var out rollback.Output
				invoke(t, s.aws, s.rollback, tc.payload, &out)
				if out.Action != rollback.ActionIgnored {
					t.Fatalf("%s: action %q (%s)", tc.variant, out.Action, out.Reason)
				}
				if calls := s.aws.Actions(); len(calls) != 0 {
					t.Fatalf("%s: AWS calls %v, want none", tc.variant, calls)
				}
				if got := s.weights(t, false); got != (deploy.Weights{Blue: 90, Green: 10}) {
					t.Fatalf("%s: weights %s", tc.variant, got)
				}
			}

			alarm := alarmeventtest.WithAlarm(t, raw, name, alarmevent.StateAlarm)
			var out rollback.Output
			invoke(t, s.aws, s.rollback, alarm, &out)
			if out.Action != rollback.ActionRestored || !out.Stopped || !out.Changed {
				t.Fatalf("ALARM: %+v", out)
			}
			if got := s.weights(t, false); got != (deploy.Weights{Blue: 1}) {
				t.Fatalf("ALARM: weights %s, want blue=1,green=0 restored", got)
			}
			if w := elbWrites(s.aws); strings.Count(strings.Join(w, " "), "ModifyListener") != 1 {
				t.Fatalf("ALARM: ELBv2 writes %v, want one ModifyListener", w)
			}
			if st := s.status(t, arn); st != "ABORTED" {
				t.Fatalf("ALARM: execution %s, want stopped (ABORTED)", st)
			}
			calls := s.aws.Actions()
			stop := slices.Index(calls, "StopExecution")
			if stop < 0 {
				t.Fatalf("ALARM: no StopExecution in %v", calls)
			}
			// The execution's status comes with the running list: nothing
			// is described again on the way to the stop.
			if slices.Contains(calls[:stop], "DescribeExecution") {
				t.Fatalf("ALARM: a DescribeExecution before the stop: %v", calls)
			}

			// The same event again (at-least-once delivery): no write.
			var again rollback.Output
			invoke(t, s.aws, s.rollback, alarm, &again)
			if again.Action != rollback.ActionNothing {
				t.Fatalf("again: %+v", again)
			}
			if w := elbWrites(s.aws); len(w) != 0 {
				t.Fatalf("again: ELBv2 writes %v", w)
			}
		})
	}
}

func TestEmulatorRollbackRejectsGarbledJSON(t *testing.T) {
	forEachBackend(t, testRollbackRejectsGarbledJSON)
}

func testRollbackRejectsGarbledJSON(t *testing.T, backend string) {
	s := startRollback(t, backend)
	s.deploy(t, "relay-v2-garbled")
	for _, p := range []string{`{"source":"aws.cloudwatch","detail-type":`, `not json`, `{"source":"pipeline","executionArn":"x"}`} {
		res := invoke(t, s.aws, s.rollback, []byte(p), nil)
		if res.ErrorType != string(deploy.InvalidInput) {
			t.Fatalf("%s: errorType %q (%s), want InvalidInput", p, res.ErrorType, res.ErrorMessage)
		}
		if calls := s.aws.Actions(); len(calls) != 0 {
			t.Fatalf("%s: AWS calls %v", p, calls)
		}
	}
	if got := s.weights(t, false); got != (deploy.Weights{Blue: 90, Green: 10}) {
		t.Fatalf("weights %s", got)
	}
}

func TestEmulatorRollbackPipelinePayload(t *testing.T) {
	forEachBackend(t, testRollbackPipelinePayload)
}

func testRollbackPipelinePayload(t *testing.T, backend string) {
	s := startRollback(t, backend)
	arn := emulators.StartExecution(t, s.aws.Direct, s.sm, "relay-v2-pipeline")
	var rec deploy.Record
	s.preflight.MustSucceed(t, map[string]any{"executionArn": arn, "request": map[string]any{"version": "v2"}}, &rec)
	s.shift.MustSucceed(t, map[string]any{"executionArn": arn, "deployment": rec, "step": 0}, nil)
	var out rollback.Output
	invoke(t, s.aws, s.rollback, map[string]any{
		"source": "pipeline", "executionArn": arn, "deployment": rec,
		"error": map[string]any{"Error": "WeightNotApplied", "Cause": "read back blue=1,green=0"},
	}, &out)
	if out.Action != rollback.ActionRestored || out.Stopped || !strings.Contains(out.Reason, "WeightNotApplied") {
		t.Fatalf("%+v", out)
	}
	if got := s.weights(t, false); got != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights %s", got)
	}
	if st := s.status(t, arn); st != "RUNNING" {
		t.Fatalf("the pipeline path stopped its own execution: %s", st)
	}
}

// BenchmarkEmulatorRollback times the rollback bootstrap under
// aws-lambda-rie, from the alarm event sent to the weights verified by
// reading the emulator, one fresh deployment at 10% per event:
//
//	go test -run '^$' -bench EmulatorRollback -benchtime 50x ./internal/functions
//
// It reports the p50 and p99 over the run (ns/op is their mean), for moto
// and for the lab. It measures; it asserts no time.
func BenchmarkEmulatorRollback(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			s := startRollback(b, backend)
			ev := alarmeventtest.WithAlarm(b, alarmeventtest.Sample(b, "eventbridge-single-metric.json"), alarmPrefix+"target-5xx", alarmevent.StateAlarm)
			var total []time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				s.deploy(b, fmt.Sprintf("relay-t%d", i))
				b.StartTimer()
				start := time.Now()
				res, err := s.rollback.Invoke(context.Background(), json.RawMessage(ev))
				if err != nil || res.ErrorType != "" {
					b.Fatalf("event %d: %v %s %s", i, err, res.ErrorType, res.ErrorMessage)
				}
				if got := s.weights(b, false); got != (deploy.Weights{Blue: 1}) {
					b.Fatalf("event %d: weights %s", i, got)
				}
				total = append(total, time.Since(start))
			}
			b.ReportMetric(float64(pct(total, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(pct(total, 99).Microseconds())/1000, "p99-ms")
		})
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(i, 1)-1].Round(100 * time.Microsecond)
}
