package deploy_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func testRecord() deploy.Record {
	return deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"), Version: "v2",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 100}, StableHealthy: 3,
		Plan: deploy.Plan{Strategy: deploy.Canary10Percent5Minutes, Steps: []deploy.Step{
			{Percent: 10, BakeSeconds: 300}, {Percent: 100, BakeSeconds: 300},
		}},
		StartedAt: t0.Add(-10 * time.Minute),
	}
}

func canaryShift() deploy.ShiftOutput {
	return deploy.ShiftOutput{Step: 0, Percent: 10, Weights: deploy.Weights{Blue: 90, Green: 10}, BakeSeconds: 300, Next: 1, At: t0}
}

func finalShift() deploy.ShiftOutput {
	return deploy.ShiftOutput{Step: 1, Percent: 100, Weights: deploy.Weights{Green: 100}, BakeSeconds: 300, Last: true, Next: 2, At: t0}
}

// sample builds a colour's window sample: requests, of which errs target
// 5xx and conn connection errors, with p50/p99 in milliseconds.
func sample(requests, errs, conn float64, p50, p99 int) deploy.Sample {
	return deploy.Sample{
		Requests: requests, Target5xx: errs, ConnectionErrors: conn, HasLatency: true,
		P50: time.Duration(p50) * time.Millisecond, P99: time.Duration(p99) * time.Millisecond,
	}
}

var noData = deploy.Sample{NoData: true}

func window(blue, green deploy.Sample) deploy.Window {
	return deploy.Window{From: t0, To: t0.Add(5 * time.Minute), Blue: blue, Green: green}
}

func TestJudge(t *testing.T) {
	afterBake := t0.Add(5 * time.Minute)
	pastHold := t0.Add(300*time.Second + 600*time.Second + time.Second)
	continueOnNoData := deploy.DefaultPolicy()
	continueOnNoData.OnNoData = deploy.OnNoDataContinue
	dry := testRecord()
	dry.DryRun = true

	for _, tc := range []struct {
		name    string
		policy  deploy.Policy
		rec     deploy.Record
		shift   deploy.ShiftOutput
		w       deploy.Window
		alarms  []string
		now     time.Time
		want    string
		reasons []string // substrings every one of which some reason contains
	}{
		{
			name: "healthy candidate continues", w: window(sample(9000, 9, 0, 300, 900), sample(1000, 1, 0, 310, 950)),
			want: "continue", reasons: []string{"candidate green error rate 0.10% (1 of 1000 requests), stable blue 0.10% (9 of 9000 requests)"},
		},
		{
			name: "identical 5xx on both colours (provider outage) does not roll back",
			w:    window(sample(9000, 1800, 0, 300, 900), sample(1000, 200, 0, 300, 900)),
			want: "continue", reasons: []string{"20.00%", "both colours fail alike"},
		},
		{
			name: "candidate 5% vs stable 0.1% rolls back",
			w:    window(sample(9000, 9, 0, 300, 900), sample(1000, 50, 0, 300, 900)),
			want: "rollback", reasons: []string{"candidate green error rate 5.00%", "stable blue's 0.10%", "by 4.90 points"},
		},
		{
			name: "candidate above the maximum but within the margin of stable continues",
			w:    window(sample(9000, 405, 0, 300, 900), sample(1000, 50, 0, 300, 900)),
			want: "continue", reasons: []string{"within 1.00 points of stable"},
		},
		{
			name: "connection errors count as errors",
			w:    window(sample(9000, 0, 0, 300, 900), sample(1000, 0, 60, 300, 900)),
			want: "rollback", reasons: []string{"0 target 5xx + 60 connection errors of 1000 requests"},
		},
		{
			name: "no datapoints within the hold bound holds",
			w:    window(sample(9000, 0, 0, 300, 900), noData), now: afterBake,
			want: "hold", reasons: []string{"candidate green has no datapoints", "holding (at most until 2026-11-27T10:15:00Z)"},
		},
		{
			name: "no datapoints past the hold bound rolls back by default",
			w:    window(sample(9000, 0, 0, 300, 900), noData), now: pastHold,
			want: "rollback", reasons: []string{"held past the limit", `on-no-data policy "rollback"`},
		},
		{
			name: "no datapoints past the hold bound continues when configured", policy: continueOnNoData,
			w: window(sample(9000, 0, 0, 300, 900), noData), now: pastHold,
			want: "continue", reasons: []string{`on-no-data policy "continue"`},
		},
		{
			name: "too few candidate requests holds",
			w:    window(sample(9000, 0, 0, 300, 900), sample(10, 5, 0, 300, 900)), now: afterBake,
			want: "hold", reasons: []string{"has 10 requests", "fewer than the 50 needed"},
		},
		{
			name: "a pipeline alarm in ALARM rolls back", alarms: []string{"relay-pipeline-5xx"},
			w:    window(sample(9000, 0, 0, 300, 900), sample(1000, 0, 0, 300, 900)),
			want: "rollback", reasons: []string{"pipeline alarms in ALARM: relay-pipeline-5xx"},
		},
		{
			name: "an alarm rolls back even while holding", alarms: []string{"relay-pipeline-5xx"},
			w: window(sample(9000, 0, 0, 300, 900), noData), now: afterBake,
			want: "rollback", reasons: []string{"pipeline alarms in ALARM", "holding"},
		},
		{
			name: "an unhealthy candidate host rolls back",
			w: func() deploy.Window {
				w := window(sample(9000, 0, 0, 300, 900), sample(1000, 0, 0, 300, 900))
				w.Green.UnhealthyHosts = 1
				return w
			}(),
			want: "rollback", reasons: []string{"candidate green had 1 unhealthy hosts"},
		},
		{
			name: "candidate p99 far above stable rolls back",
			w:    window(sample(9000, 0, 0, 300, 1000), sample(1000, 0, 0, 900, 8000)),
			want: "rollback", reasons: []string{"candidate green p99 8000 ms exceeds the maximum 5000 ms and stable blue's 1000 ms x 1.50 = 1500 ms"},
		},
		{
			name: "candidate p99 above the maximum but close to stable continues",
			w:    window(sample(9000, 0, 0, 300, 6000), sample(1000, 0, 0, 300, 8000)),
			want: "continue", reasons: []string{"both colours are slow"},
		},
		{
			name: "last step with the stable colour idle promotes on absolute thresholds", shift: finalShift(),
			w:    window(noData, sample(10000, 3, 0, 300, 900)),
			want: "promote", reasons: []string{"judged on the absolute thresholds alone"},
		},
		{
			name: "last step with the stable colour idle rolls back a failing candidate", shift: finalShift(),
			w:    window(noData, sample(10000, 500, 0, 300, 900)),
			want: "rollback", reasons: []string{"stable blue has too little traffic to compare"},
		},
		{
			name: "the load balancer's own 5xx are reported", w: func() deploy.Window {
				w := window(sample(9000, 0, 0, 300, 900), sample(1000, 0, 0, 300, 900))
				w.ELB5xx = 7
				return w
			}(),
			want: "continue", reasons: []string{"the load balancer itself returned 7 5xx responses"},
		},
		{
			name: "a dry run reports and carries on", rec: dry,
			w: window(sample(9000, 0, 0, 300, 900), noData), now: pastHold,
			want: "continue", reasons: []string{`dry run: the verdict would have been "rollback"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == (deploy.Policy{}) {
				p = deploy.DefaultPolicy()
			}
			rec := tc.rec
			if rec.ID == "" {
				rec = testRecord()
			}
			sh := tc.shift
			if sh.At.IsZero() {
				sh = canaryShift()
			}
			now := tc.now
			if now.IsZero() {
				now = afterBake
			}
			v := deploy.Judge(p, rec, sh, tc.w, tc.alarms, now)
			if v.Verdict != tc.want {
				t.Errorf("verdict %q, want %q; reasons:\n%s", v.Verdict, tc.want, strings.Join(v.Reasons, "\n"))
			}
			all := strings.Join(v.Reasons, "\n")
			for _, r := range tc.reasons {
				if !strings.Contains(all, r) {
					t.Errorf("no reason contains %q; reasons:\n%s", r, all)
				}
			}
			if v.Alarms == nil || v.Reasons == nil {
				t.Error("alarms and reasons must be lists, never null")
			}
		})
	}
}

// TestJudgeOutput pins the verdict document the Step Functions console
// shows for the rollback case: both colours' numbers side by side.
func TestJudgeOutput(t *testing.T) {
	w := window(sample(9000, 9, 0, 310, 880), sample(1000, 50, 0, 320, 910))
	w.ELB5xx = 2
	v := deploy.Judge(deploy.DefaultPolicy(), testRecord(), canaryShift(), w, nil, t0.Add(5*time.Minute))
	if v.Candidate.ErrorRatePercent != 5 || v.Stable.ErrorRatePercent != 0.1 {
		t.Fatalf("error rates: candidate %v%%, stable %v%%", v.Candidate.ErrorRatePercent, v.Stable.ErrorRatePercent)
	}
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "verdict-candidate-worse.json", got)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), strings.TrimSpace(string(got))); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", name, diff)
	}
}

// clock is a settable clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestEvaluateHoldsThenAppliesOnNoData(t *testing.T) {
	m := deploytest.NewMetrics("relay-")
	clk := &clock{}
	e := &deploy.Evaluate{Metrics: m, Policy: deploy.DefaultPolicy(), Now: clk.Now}
	rec := testRecord()
	in := deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: canaryShift()}
	// The stable colour serves; the candidate gets nothing.
	for i := range 20 {
		m.Serve(deploy.Blue, t0.Add(time.Duration(i)*time.Minute), 100, 200*time.Millisecond, 200)
	}
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{5 * time.Minute, "hold"},                  // after the bake
		{10 * time.Minute, "hold"},                 // holding
		{15 * time.Minute, "hold"},                 // exactly at bake + max hold
		{15*time.Minute + time.Second, "rollback"}, // past it: onNoData
	} {
		clk.now = t0.Add(tc.after)
		v, err := e.Handle(context.Background(), discard, in)
		if err != nil {
			t.Fatal(err)
		}
		if v.Verdict != tc.want {
			t.Fatalf("at +%s: verdict %q, want %q (%v)", tc.after, v.Verdict, tc.want, v.Reasons)
		}
		if !v.Candidate.NoData || v.Candidate.Requests != 0 || v.Stable.NoData {
			t.Fatalf("at +%s: candidate %+v stable %+v", tc.after, v.Candidate, v.Stable)
		}
		if !v.Window.From.Equal(t0) || !v.Window.To.Equal(clk.now) || !v.EvaluatedAt.Equal(clk.now) {
			t.Fatalf("window %+v evaluated at %s", v.Window, v.EvaluatedAt)
		}
	}
}

func TestEvaluateJudgesOnlyTheStepWindow(t *testing.T) {
	m := deploytest.NewMetrics("relay-")
	rec := testRecord()
	// Before the step began the candidate failed badly (a previous step,
	// or warm-up traffic): that must not count.
	m.Serve(deploy.Green, t0.Add(-time.Minute), 500, time.Second, 503)
	m.Serve(deploy.Green, t0.Add(time.Minute), 1000, 300*time.Millisecond, 200)
	m.Serve(deploy.Blue, t0.Add(time.Minute), 9000, 300*time.Millisecond, 200)
	m.SetAlarm("other-team-alarm", "ALARM") // not a pipeline alarm
	e := &deploy.Evaluate{Metrics: m, Policy: deploy.DefaultPolicy(), Now: func() time.Time { return t0.Add(5 * time.Minute) }}
	v, err := e.Handle(context.Background(), discard, deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: canaryShift()})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != "continue" || v.Candidate.Requests != 1000 || v.Candidate.Target5xx != 0 || len(v.Alarms) != 0 {
		t.Fatalf("verdict %+v", v)
	}
	if v.Candidate.P99Ms != 300 || v.Candidate.P50Ms != 300 {
		t.Fatalf("latency: %+v", v.Candidate)
	}
	if m.Windows() != 1 {
		t.Fatalf("%d window queries, want 1", m.Windows())
	}
}

func TestEvaluateRejectsInvalidInput(t *testing.T) {
	rec := testRecord()
	badRec := rec
	badRec.Stable = "purple"
	noAt := canaryShift()
	noAt.At = time.Time{}
	future := canaryShift()
	future.At = t0.Add(time.Hour)
	outOfPlan := canaryShift()
	outOfPlan.Step = 5
	for _, tc := range []struct {
		name string
		in   deploy.EvaluateInput
	}{
		{"execution mismatch", deploy.EvaluateInput{ExecutionARN: deploytest.ExecutionARN("other"), Deployment: rec, Shift: canaryShift()}},
		{"invalid record", deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: badRec, Shift: canaryShift()}},
		{"no shift.at", deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: noAt}},
		{"shift.at in the future", deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: future}},
		{"step outside the plan", deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: outOfPlan}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := deploytest.NewMetrics("relay-")
			e := &deploy.Evaluate{Metrics: m, Policy: deploy.DefaultPolicy(), Now: func() time.Time { return t0.Add(5 * time.Minute) }}
			_, err := e.Handle(context.Background(), discard, tc.in)
			if deploy.CodeOf(err) != deploy.InvalidInput {
				t.Fatalf("err = %v, want InvalidInput", err)
			}
			if m.Windows() != 0 {
				t.Fatal("invalid input queried metrics")
			}
		})
	}
}

func TestEvaluatePassesMetricsErrors(t *testing.T) {
	m := deploytest.NewMetrics("relay-")
	m.Err = deploy.Errorf(deploy.Throttled, "GetMetricData: rate exceeded")
	rec := testRecord()
	e := &deploy.Evaluate{Metrics: m, Policy: deploy.DefaultPolicy(), Now: func() time.Time { return t0.Add(5 * time.Minute) }}
	_, err := e.Handle(context.Background(), discard, deploy.EvaluateInput{ExecutionARN: rec.ExecutionARN, Deployment: rec, Shift: canaryShift()})
	if deploy.CodeOf(err) != deploy.Throttled {
		t.Fatalf("err = %v, want Throttled", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := deploy.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	for name, mutate := range map[string]func(*deploy.Policy){
		"negative error rate": func(p *deploy.Policy) { p.MaxErrorRatePercent = -1 },
		"error rate over 100": func(p *deploy.Policy) { p.MaxErrorRatePercent = 101 },
		"negative margin":     func(p *deploy.Policy) { p.ErrorRateMarginPoints = -0.5 },
		"negative p99":        func(p *deploy.Policy) { p.MaxP99Ms = -1 },
		"factor below 1":      func(p *deploy.Policy) { p.P99Factor = 0.9 },
		"zero min requests":   func(p *deploy.Policy) { p.MinRequests = 0 },
		"negative hold":       func(p *deploy.Policy) { p.MaxHoldSeconds = -1 },
		"unknown on-no-data":  func(p *deploy.Policy) { p.OnNoData = "panic" },
	} {
		p := deploy.DefaultPolicy()
		mutate(&p)
		if p.Validate() == nil {
			t.Errorf("%s: validated", name)
		}
	}
}
