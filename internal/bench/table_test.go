package bench

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedReport is a report with every figure set, as a run would fill it.
func fixedReport() *Report {
	d := func(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
	canary := func(failed, requests int, onsetToAlarm, alarmToEvent, eventToRestored float64) CanaryRun {
		onset := h0.Add(2 * time.Second)
		alarm := onset.Add(d(onsetToAlarm))
		received := alarm.Add(d(alarmToEvent))
		return CanaryRun{Failed: failed, Requests: requests, Path: "alarm", Onset: onset, Alarm: alarm, Received: received,
			Restored: received.Add(d(eventToRestored))}
	}
	promoted := func(totalMs float64) Execution {
		return Execution{Status: "SUCCEEDED", Start: h0, Stop: h0.Add(d(totalMs)), ConfiguredWait: 10 * time.Second}
	}
	inv := func(fn string, mb int, ms float64) BilledInvocation {
		return BilledInvocation{Function: fn, MemoryMB: mb, Duration: d(ms)}
	}
	rep := &Report{
		Date: h0, Machine: "linux/amd64, 2 CPUs, Test CPU, 24 GiB, go1.26.8", Elapsed: 171 * time.Second,
		TimeScale: 1.0 / 60, Rate: 100, Strategy: "Canary10Percent5Minutes", BaselineWait: 2 * time.Second, CheckRequests: 20,
		MetricsPerEvaluate: 13, NotSent: 7,
		Alarm:    AlarmInfo{Name: "relayshift-relay-green-5xx-rate", Threshold: 5, PeriodSeconds: 60, EvaluationPeriods: 2, DatapointsToAlarm: 2},
		Baseline: []BaselineRun{{Failed: 200, Requests: 298, NotSent: 1}, {Failed: 203, Requests: 301}, {Failed: 199, Requests: 300, NotSent: 2}},
		// Three runs rolled back by the alarm path, one by the pipeline.
		Canary: []CanaryRun{canary(16, 299, 1340, 0.9, 4), canary(14, 301, 1210, 0.7, 3.5), canary(19, 300, 1650, 1.1, 5),
			{Failed: 40, Requests: 310, Path: "pipeline", FailedState: "Evaluate (verdict rollback)", Onset: h0.Add(2 * time.Second), Restored: h0.Add(9 * time.Second)}},
		WarmupCaught: []CanaryRun{{Path: "pipeline", FailedState: "Warm up candidate", Requests: 100}, {Path: "pipeline", FailedState: "Warm up candidate", Requests: 101},
			{Path: "pipeline", FailedState: "Warm up candidate", Requests: 99}},
		Rollback: RollbackLatency{Latencies: []time.Duration{d(3.3), d(3.1), d(5.1), d(2.9), d(4.0)}, HandlerMs: []float64{2.9, 2.7, 4.6, 2.5, 3.6}},
		Weights: WeightChanges{Changes: 120, Interval: 50 * time.Millisecond, Elapsed: 6200 * time.Millisecond,
			Changed: Tally{Requests: 931, Failed: 2, BrokenAfterHeaders: 2, NotSent: 4}, Control: Tally{Requests: 929, Failed: 1, BrokenAfterHeaders: 1},
			ByColour: map[string]int{"blue": 460, "green": 471}},
		Throughput: Throughput{Workers: 16, Duration: 2 * time.Second, Direct: []float64{41765.2, 40100, 42010}, Proxy: []float64{14112.4, 13900, 14500}},
		Promoted:   []Execution{promoted(10672), promoted(10700), promoted(10650)},
		PromotedCost: Price(Consumption{Transitions: 18, Metrics: 26, Invocations: []BilledInvocation{
			inv("preflight", 128, 4), inv("release", 128, 1), inv("healthcheck", 128, 6), inv("warmup", 256, 640), inv("shift", 128, 5),
			inv("evaluate", 128, 3), inv("shift", 128, 5), inv("evaluate", 128, 3), inv("finalize", 128, 2)}}),
		RolledBackCost: Price(Consumption{Transitions: 9, Invocations: []BilledInvocation{
			inv("preflight", 128, 4), inv("release", 128, 1), inv("healthcheck", 128, 6), inv("warmup", 256, 630), inv("shift", 128, 5), inv("rollback", 128, 4)}}),
	}
	for i, name := range []string{"preflight", "release", "healthcheck", "warmup", "shift", "evaluate", "finalize", "rollback"} {
		mb := 128
		if name == "warmup" {
			mb = 256
		}
		rep.Bootstraps = append(rep.Bootstraps, Bootstrap{Name: name, Size: int64(10<<20 + i*100_000), MemoryMB: mb,
			InitMs: []float64{9.9 + float64(i)/10, 10.4, 9.7}, FirstMinusWarm: []time.Duration{d(10.8), d(11.2), d(10.5)}})
	}
	return rep
}

func TestRenderShowsEveryFigure(t *testing.T) {
	var b strings.Builder
	if err := fixedReport().Render(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"1. Bad release", "relayshift Canary10Percent5Minutes: failed requests", "all-at-once, no metric gate", "ratio all-at-once / relayshift  ",
		"2. Fault onset → 100% on stable, alarm path", "3. Rollback function: event → weights verified", "4. Weight changes between healthy colours",
		"5. Throughput", "6. Pipeline overhead", "7. AWS cost per deployment", "Step Functions: 18 state transitions", "CloudWatch GetMetricData: 26 metrics",
		"8. Bootstraps", "warmup (256 MB)", "rollback (128 MB)", "aws.amazon.com/lambda/pricing", "Row 4 failures: 3 streams broke right after the headers",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	golden(t, "table.golden", got)
}

func TestRenderSaysWhenNothingFailed(t *testing.T) {
	rep := fixedReport()
	for i := range rep.Canary {
		rep.Canary[i].Failed = 0
	}
	rep.Weights.Changed, rep.Weights.Control = Tally{Requests: 900}, Tally{Requests: 900}
	var b strings.Builder
	if err := rep.Render(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "∞ (200 vs 0)") {
		t.Errorf("the ratio against no failures is not infinite:\n%s", b.String())
	}
	if strings.Contains(b.String(), "Row 4 failures") {
		t.Errorf("a note explains failures that did not happen")
	}
}

// Rows 2 and 7's rollback, and the time-scale projection, stand on the runs
// the alarm path rolled back, not on a run the pipeline rolled back.
func TestRenderFiguresTheAlarmPathOnItsRuns(t *testing.T) {
	rep := fixedReport()
	var rolledBack *row
	for _, r := range rep.rows() {
		if r.label == "rolled back by the alarm path" {
			rolledBack = &r
		}
		if strings.HasPrefix(r.label, "2. Fault onset") && (r.result != "1.34 s" || r.n != "3 of 4 via alarm") {
			t.Errorf("row 2: %q over %q, want 1.34 s over 3 of 4 via alarm", r.result, r.n)
		}
		if strings.HasPrefix(r.label, "relayshift Canary10Percent5Minutes") && (r.result != "17.5 (of 300.5; 0 not sent)" || r.n != "4") {
			t.Errorf("row 1: %q over %q, want every canary run: 17.5 (of 300.5; 0 not sent) over 4", r.result, r.n)
		}
	}
	if rolledBack == nil || rolledBack.n != "3" {
		t.Errorf("row 7's rollback cost: %+v, want n 3 (the alarm path's runs)", rolledBack)
	}
	// The alarm path's runs: a median of 16 failed over 1.3449 s of
	// exposure, 1.34 s of it waiting for the alarm, which AWS waits 60
	// times longer: 16 × (60 × 1.34 s + 4.9 ms) / 1.3449 s ≈ 957. Over
	// every run (a median of 17.5) it would be ≈ 1,046.
	notes := strings.Join(rep.notes(), "\n")
	if !strings.Contains(notes, "≈ 957 requests fail") {
		t.Errorf("the time-scale note does not project the alarm path's runs (≈ 957):\n%s", notes)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}
