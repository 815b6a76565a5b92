package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// The verdicts Evaluate returns; the state machine's Choice state branches
// on them.
const (
	// VerdictContinue: the candidate is judged fine; shift the next step.
	VerdictContinue = "continue"
	// VerdictHold: not enough traffic on the candidate yet; bake again.
	VerdictHold = "hold"
	// VerdictPromote: the last step passed; the deployment is done.
	VerdictPromote = "promote"
	// VerdictRollback: the candidate is judged bad; roll back.
	VerdictRollback = "rollback"
)

// No-data policies: what Evaluate does once a candidate has held for
// MaxHoldSeconds without enough traffic to judge.
const (
	// OnNoDataRollback rolls back: nothing proves the candidate works.
	OnNoDataRollback = "rollback"
	// OnNoDataContinue carries on as if the candidate passed (for relays
	// with very little traffic, where the alarms are the only safety net).
	OnNoDataContinue = "continue"
)

// Policy holds the thresholds Evaluate judges with. Rates are percentages
// (0-100). DefaultPolicy returns the defaults.
type Policy struct {
	// MaxErrorRatePercent is the candidate error rate (target 5xx plus
	// target connection errors, over requests) above which the candidate
	// may be rolled back.
	MaxErrorRatePercent float64 `json:"maxErrorRatePercent"`
	// ErrorRateMarginPoints is how many percentage points the candidate's
	// error rate must exceed the stable colour's by, on top of
	// MaxErrorRatePercent, to roll back. It is what keeps an upstream
	// (LLM provider) outage that hits both colours from rolling back a good
	// release.
	ErrorRateMarginPoints float64 `json:"errorRateMarginPoints"`
	// MaxP99Ms is the candidate p99 target response time above which the
	// candidate may be rolled back.
	MaxP99Ms float64 `json:"maxP99Ms"`
	// P99Factor: the candidate's p99 must also exceed the stable colour's
	// p99 times this factor to roll back.
	P99Factor float64 `json:"p99Factor"`
	// MinRequests is the number of candidate requests in the window below
	// which there is not enough data to judge (hold).
	MinRequests int `json:"minRequests"`
	// MaxHoldSeconds bounds holding: once the window is older than the
	// step's bake plus MaxHoldSeconds, OnNoData applies.
	MaxHoldSeconds int `json:"maxHoldSeconds"`
	// OnNoData is OnNoDataRollback or OnNoDataContinue.
	OnNoData string `json:"onNoData"`
}

// DefaultPolicy returns the default thresholds: 1% errors and 1 point worse
// than stable; p99 over 5 s and 1.5x stable's; 50 requests; hold up to 10
// minutes, then roll back.
func DefaultPolicy() Policy {
	return Policy{
		MaxErrorRatePercent:   1,
		ErrorRateMarginPoints: 1,
		MaxP99Ms:              5000,
		P99Factor:             1.5,
		MinRequests:           50,
		MaxHoldSeconds:        600,
		OnNoData:              OnNoDataRollback,
	}
}

// Validate checks the policy's ranges.
func (p Policy) Validate() error {
	switch {
	case p.MaxErrorRatePercent < 0 || p.MaxErrorRatePercent > 100 || math.IsNaN(p.MaxErrorRatePercent):
		return fmt.Errorf("max error rate %v%% outside 0-100", p.MaxErrorRatePercent)
	case p.ErrorRateMarginPoints < 0 || p.ErrorRateMarginPoints > 100 || math.IsNaN(p.ErrorRateMarginPoints):
		return fmt.Errorf("error rate margin %v points outside 0-100", p.ErrorRateMarginPoints)
	case p.MaxP99Ms < 0 || math.IsNaN(p.MaxP99Ms) || math.IsInf(p.MaxP99Ms, 0):
		return fmt.Errorf("max p99 %v ms must be 0 or more", p.MaxP99Ms)
	case p.P99Factor < 1 || math.IsNaN(p.P99Factor) || math.IsInf(p.P99Factor, 0):
		return fmt.Errorf("p99 factor %v must be 1 or more", p.P99Factor)
	case p.MinRequests < 1:
		return fmt.Errorf("min requests %d must be 1 or more", p.MinRequests)
	case p.MaxHoldSeconds < 0 || p.MaxHoldSeconds > MaxBakeSeconds:
		return fmt.Errorf("max hold %d s outside 0-%d", p.MaxHoldSeconds, MaxBakeSeconds)
	case p.OnNoData != OnNoDataRollback && p.OnNoData != OnNoDataContinue:
		return fmt.Errorf("on-no-data policy %q: want %s or %s", p.OnNoData, OnNoDataRollback, OnNoDataContinue)
	}
	return nil
}

// Sample is what CloudWatch holds for one colour's target group over a
// window. Counts are sums over the window.
type Sample struct {
	// NoData is true when RequestCount has no datapoints: ALB publishes
	// nothing for a target group that served no requests, so no data means
	// "nothing to judge", never "zero errors".
	NoData           bool
	Requests         float64
	Target5xx        float64
	ConnectionErrors float64
	// HasLatency is false when TargetResponseTime has no datapoints.
	HasLatency bool
	// P50 and P99 are TargetResponseTime percentiles over the window.
	P50, P99 time.Duration
	// UnhealthyHosts is the largest UnHealthyHostCount in the window.
	UnhealthyHosts float64
}

// Window is both colours' numbers over one time window, read in one query.
type Window struct {
	From, To    time.Time
	Blue, Green Sample
	// ELB5xx is the load balancer's own 5xx count (HTTPCode_ELB_5XX_Count).
	// NOTE: that metric has only the LoadBalancer dimension, so it cannot
	// be split by colour (ALB CloudWatch metrics documentation,
	// AWS-FACTS.md); it is reported, not judged per colour.
	ELB5xx float64
}

// Of returns colour c's sample.
func (w Window) Of(c Colour) Sample {
	if c == Green {
		return w.Green
	}
	return w.Blue
}

// Metrics reads the numbers Evaluate judges. Implemented by
// internal/cwmetrics.
type Metrics interface {
	// Window returns both colours' samples and the load balancer's ELB
	// 5xx count over [from, to), in one query. Errors: Throttled,
	// AccessDenied, RequestRejected.
	Window(ctx context.Context, from, to time.Time) (Window, error)
	// Alarms returns the names of the pipeline's alarms (metric and
	// composite) that are in ALARM, sorted. Errors: Throttled,
	// AccessDenied.
	Alarms(ctx context.Context) ([]string, error)
}

// EvaluateInput is the payload of the Evaluate task.
type EvaluateInput struct {
	ExecutionARN string      `json:"executionArn"`
	Deployment   Record      `json:"deployment"`
	Shift        ShiftOutput `json:"shift"`
}

// Numbers are one colour's numbers as the verdict shows them.
type Numbers struct {
	Colour           Colour  `json:"colour"`
	Requests         int64   `json:"requests"`
	Target5xx        int64   `json:"target5xx"`
	ConnectionErrors int64   `json:"connectionErrors"`
	ErrorRatePercent float64 `json:"errorRatePercent"`
	P50Ms            float64 `json:"p50Ms"`
	P99Ms            float64 `json:"p99Ms"`
	UnhealthyHosts   int64   `json:"unhealthyHosts"`
	NoData           bool    `json:"noData"`
}

// TimeWindow is the judged window.
type TimeWindow struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Verdict is Evaluate's output, written under $.verdict. Every field is
// always present.
type Verdict struct {
	Verdict string `json:"verdict"`
	// Reasons explain the verdict in sentences that carry the numbers.
	Reasons   []string `json:"reasons"`
	Step      int      `json:"step"`
	Final     bool     `json:"final"`
	Candidate Numbers  `json:"candidate"`
	Stable    Numbers  `json:"stable"`
	// LoadBalancerELB5xx is the load-balancer-wide ELB 5xx count in the
	// window (not attributable to a colour).
	LoadBalancerELB5xx int64 `json:"loadBalancerElb5xx"`
	// Alarms lists the pipeline alarms in ALARM.
	Alarms      []string   `json:"alarms"`
	Window      TimeWindow `json:"window"`
	EvaluatedAt time.Time  `json:"evaluatedAt"`
}

// Evaluate judges the candidate against the stable colour between traffic
// steps. It is stateless: the hold bound is computed from the step's start
// (shift.at), its bake and Policy.MaxHoldSeconds.
type Evaluate struct {
	Metrics Metrics
	Policy  Policy
	Now     func() time.Time
}

// Handle runs Evaluate. Errors: InvalidInput (nothing read), and those of
// Metrics.
func (e *Evaluate) Handle(ctx context.Context, log *slog.Logger, in EvaluateInput) (Verdict, error) {
	rec, sh := in.Deployment, in.Shift
	if err := rec.ValidateFor(in.ExecutionARN); err != nil {
		return Verdict{}, err
	}
	if sh.Step < 0 || sh.Step >= len(rec.Plan.Steps) {
		return Verdict{}, Errorf(InvalidInput, "shift step %d outside the plan's %d steps", sh.Step, len(rec.Plan.Steps))
	}
	if sh.At.IsZero() {
		return Verdict{}, Errorf(InvalidInput, "shift.at is missing: Evaluate judges the window since the step began")
	}
	now := e.Now().UTC()
	from := sh.At.UTC()
	if !from.Before(now) {
		return Verdict{}, Errorf(InvalidInput, "shift.at %s is not before now (%s)", from.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	log = log.With("deployment", rec.ID, "step", sh.Step)

	w, err := e.Metrics.Window(ctx, from, now)
	if err != nil {
		return Verdict{}, err
	}
	alarms, err := e.Metrics.Alarms(ctx)
	if err != nil {
		return Verdict{}, err
	}
	v := Judge(e.Policy, rec, sh, w, alarms, now)
	log.Info("evaluated", "verdict", v.Verdict, "reasons", v.Reasons,
		"candidate_requests", v.Candidate.Requests, "candidate_error_rate", v.Candidate.ErrorRatePercent,
		"stable_requests", v.Stable.Requests, "stable_error_rate", v.Stable.ErrorRatePercent,
		"candidate_p99_ms", v.Candidate.P99Ms, "stable_p99_ms", v.Stable.P99Ms, "alarms", v.Alarms)
	return v, nil
}

// numbers turns a sample into the numbers the verdict shows.
func numbers(c Colour, s Sample) Numbers {
	n := Numbers{Colour: c, NoData: s.NoData}
	if s.NoData {
		return n
	}
	n.Requests = int64(math.Round(s.Requests))
	n.Target5xx = int64(math.Round(s.Target5xx))
	n.ConnectionErrors = int64(math.Round(s.ConnectionErrors))
	n.UnhealthyHosts = int64(math.Ceil(s.UnhealthyHosts))
	if s.Requests > 0 {
		n.ErrorRatePercent = round2(min(100, 100*(s.Target5xx+s.ConnectionErrors)/s.Requests))
	}
	if s.HasLatency {
		n.P50Ms = round2(float64(s.P50) / float64(time.Millisecond))
		n.P99Ms = round2(float64(s.P99) / float64(time.Millisecond))
	}
	return n
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Judge applies the policy to a window. It is a pure function: the
// verdict tables test it directly.
//
// The rules, all evaluated so that every reason is reported:
//   - any pipeline alarm in ALARM: rollback;
//   - any unhealthy candidate host: rollback;
//   - fewer than MinRequests candidate requests (no datapoints counts as
//     none): hold, until the window is older than the bake plus
//     MaxHoldSeconds, then OnNoData;
//   - candidate error rate above MaxErrorRatePercent and more than
//     ErrorRateMarginPoints above the stable colour's: rollback;
//   - candidate p99 above MaxP99Ms and above the stable p99 times
//     P99Factor: rollback;
//   - otherwise continue, or promote after the last step.
//
// The stable colour is a comparison only when it served at least
// MinRequests in the window; otherwise (at 100%, the stable colour serves
// nothing) the candidate is judged on the absolute thresholds alone, and
// the reasons say so. A dry run reports what it would have decided and
// carries on.
func Judge(p Policy, rec Record, sh ShiftOutput, w Window, alarms []string, now time.Time) Verdict {
	if alarms == nil {
		alarms = []string{}
	}
	cand, stab := numbers(rec.Candidate, w.Of(rec.Candidate)), numbers(rec.Stable, w.Of(rec.Stable))
	v := Verdict{
		Step: sh.Step, Final: sh.Last, Candidate: cand, Stable: stab,
		LoadBalancerELB5xx: int64(math.Round(w.ELB5xx)), Alarms: alarms,
		Window: TimeWindow{From: w.From.UTC(), To: w.To.UTC()}, EvaluatedAt: now.UTC(),
		Reasons: []string{},
	}
	rollback, hold := false, false
	why := func(format string, args ...any) { v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...)) }

	if len(alarms) > 0 {
		rollback = true
		why("pipeline alarms in ALARM: %s", strings.Join(alarms, ", "))
	}
	if cand.UnhealthyHosts > 0 {
		rollback = true
		why("candidate %s had %d unhealthy hosts in the window (any unhealthy candidate host rolls back)", cand.Colour, cand.UnhealthyHosts)
	}

	stableComparable := !stab.NoData && stab.Requests >= int64(p.MinRequests)
	if cand.NoData || cand.Requests < int64(p.MinRequests) {
		deadline := sh.At.Add(time.Duration(sh.BakeSeconds+p.MaxHoldSeconds) * time.Second)
		seen := fmt.Sprintf("%d requests", cand.Requests)
		if cand.NoData {
			seen = "no datapoints"
		}
		if now.After(deadline) {
			if p.OnNoData == OnNoDataRollback {
				rollback = true
			}
			why("candidate %s has %s since %s, fewer than the %d needed, and held past the limit (%ds bake + %ds max hold, until %s): on-no-data policy %q applies",
				cand.Colour, seen, sh.At.UTC().Format(time.RFC3339), p.MinRequests, sh.BakeSeconds, p.MaxHoldSeconds,
				deadline.UTC().Format(time.RFC3339), p.OnNoData)
		} else {
			hold = true
			why("candidate %s has %s since %s, fewer than the %d needed to judge: holding (at most until %s)",
				cand.Colour, seen, sh.At.UTC().Format(time.RFC3339), p.MinRequests, deadline.UTC().Format(time.RFC3339))
		}
	} else {
		if r := judgeErrors(p, cand, stab, stableComparable); r != "" {
			rollback = true
			why("%s", r)
		} else {
			why("%s", errorSummary(p, cand, stab, stableComparable))
		}
		if r, bad := judgeLatency(p, cand, stab, stableComparable); r != "" {
			rollback = rollback || bad
			why("%s", r)
		}
		if !stableComparable {
			why("stable %s served %d requests (fewer than %d): the candidate is judged on the absolute thresholds alone", stab.Colour, stab.Requests, p.MinRequests)
		}
	}
	if v.LoadBalancerELB5xx > 0 {
		why("the load balancer itself returned %d 5xx responses in the window (HTTPCode_ELB_5XX_Count, not attributable to a colour)", v.LoadBalancerELB5xx)
	}

	next := VerdictContinue
	if sh.Last {
		next = VerdictPromote
	}
	switch {
	case rollback:
		v.Verdict = VerdictRollback
	case hold:
		v.Verdict = VerdictHold
	default:
		v.Verdict = next
	}
	if rec.DryRun && v.Verdict != next {
		why("dry run: the verdict would have been %q; carrying on", v.Verdict)
		v.Verdict = next
	}
	return v
}

// judgeErrors returns a rollback reason when the candidate's error rate
// breaks the policy, or "".
func judgeErrors(p Policy, cand, stab Numbers, comparable bool) string {
	if cand.ErrorRatePercent <= p.MaxErrorRatePercent {
		return ""
	}
	if !comparable {
		return fmt.Sprintf("candidate %s error rate %.2f%% (%d target 5xx + %d connection errors of %d requests) exceeds the maximum %.2f%%; stable %s has too little traffic to compare",
			cand.Colour, cand.ErrorRatePercent, cand.Target5xx, cand.ConnectionErrors, cand.Requests, p.MaxErrorRatePercent, stab.Colour)
	}
	diff := cand.ErrorRatePercent - stab.ErrorRatePercent
	if diff <= p.ErrorRateMarginPoints {
		return ""
	}
	return fmt.Sprintf("candidate %s error rate %.2f%% (%d target 5xx + %d connection errors of %d requests) exceeds the maximum %.2f%% and stable %s's %.2f%% (%d of %d requests) by %.2f points (margin %.2f)",
		cand.Colour, cand.ErrorRatePercent, cand.Target5xx, cand.ConnectionErrors, cand.Requests, p.MaxErrorRatePercent,
		stab.Colour, stab.ErrorRatePercent, stab.Target5xx+stab.ConnectionErrors, stab.Requests, diff, p.ErrorRateMarginPoints)
}

// errorSummary explains why the error rates passed.
func errorSummary(p Policy, cand, stab Numbers, comparable bool) string {
	s := fmt.Sprintf("candidate %s error rate %.2f%% (%d of %d requests)", cand.Colour, cand.ErrorRatePercent,
		cand.Target5xx+cand.ConnectionErrors, cand.Requests)
	if comparable {
		s += fmt.Sprintf(", stable %s %.2f%% (%d of %d requests)", stab.Colour, stab.ErrorRatePercent,
			stab.Target5xx+stab.ConnectionErrors, stab.Requests)
	}
	if cand.ErrorRatePercent > p.MaxErrorRatePercent {
		return s + fmt.Sprintf(": above the maximum %.2f%% but within %.2f points of stable, so both colours fail alike (an upstream problem, not the release)",
			p.MaxErrorRatePercent, p.ErrorRateMarginPoints)
	}
	return s + fmt.Sprintf(": within the maximum %.2f%%", p.MaxErrorRatePercent)
}

// judgeLatency returns a reason about p99 and whether it rolls back.
func judgeLatency(p Policy, cand, stab Numbers, comparable bool) (string, bool) {
	if cand.P99Ms <= p.MaxP99Ms {
		return "", false
	}
	if !comparable || stab.P99Ms == 0 {
		return fmt.Sprintf("candidate %s p99 %.0f ms exceeds the maximum %.0f ms; stable %s has no latency to compare",
			cand.Colour, cand.P99Ms, p.MaxP99Ms, stab.Colour), true
	}
	limit := stab.P99Ms * p.P99Factor
	if cand.P99Ms <= limit {
		return fmt.Sprintf("candidate %s p99 %.0f ms exceeds the maximum %.0f ms but not stable %s's %.0f ms x %.2f = %.0f ms: both colours are slow",
			cand.Colour, cand.P99Ms, p.MaxP99Ms, stab.Colour, stab.P99Ms, p.P99Factor, limit), false
	}
	return fmt.Sprintf("candidate %s p99 %.0f ms exceeds the maximum %.0f ms and stable %s's %.0f ms x %.2f = %.0f ms",
		cand.Colour, cand.P99Ms, p.MaxP99Ms, stab.Colour, stab.P99Ms, p.P99Factor, limit), true
}
