package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/lab/statemachine"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/percentile"
	"github.com/relayshift/relayshift/internal/poll"
	"github.com/relayshift/relayshift/internal/relaysim"
)

// failures counts the failed outcomes and returns the first failure's
// start.
func failures(outs []loadgen.Outcome) (failed int, first time.Time) {
	for _, o := range outs {
		if !o.Failed() {
			continue
		}
		failed++
		if first.IsZero() || o.At.Before(first) {
			first = o.At
		}
	}
	return failed, first
}

// badFaults makes the candidate answer every production chat completion
// with a 500. hidden spares the test route's requests (the warm-up), so
// only production traffic sees the fault.
func badFaults(l *lab.Lab, hidden bool) relaysim.Faults {
	f := relaysim.Faults{ErrorRate: 1, ErrorStatus: http.StatusInternalServerError}
	if hidden {
		f.ExemptHeader = l.TestHeader()
	}
	return f
}

// baseline releases the bad candidate with the all-at-once controller.
func (r *runner) baseline(ctx context.Context) error {
	b, err := r.startLab(ctx, nil)
	if err != nil {
		return err
	}
	defer b.close()
	if r.rep.Alarm, err = b.alarmInfo("green-5xx-rate"); err != nil {
		return err
	}
	if err := b.l.SetFaults("green", badFaults(b.l, true)); err != nil {
		return err
	}
	if err := b.startLoad(ctx); err != nil {
		return err
	}
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	check := SampleCheck{
		Client: &http.Client{Timeout: 5 * time.Second}, URL: b.l.Production.URL() + "/v1/chat/completions",
		Request: chatRequest(), Requests: r.cfg.CheckRequests, Concurrency: 4, MaxFailureRate: r.rep.Alarm.Threshold / 100,
	}
	ctl := &AllAtOnce{
		API: elbv2.NewFromConfig(b.l.AWSConfig()), ListenerARN: b.l.Production.ARN(), Stable: b.l.Blue.ARN(), Candidate: b.l.Green.ARN(),
		Wait: r.cfg.BaselineWait, Check: check.Check,
	}
	for i := range r.cfg.Runs {
		from := time.Now()
		res, err := ctl.Release(ctx)
		if err != nil {
			return err
		}
		if res.Kept {
			return fmt.Errorf("the all-at-once check passed a candidate failing every request (%d of %d failed)", res.Check.Failures, res.Check.Requests)
		}
		if err := poll.Sleep(ctx, settle); err != nil {
			return err
		}
		to := res.FlippedBack.Add(settle)
		outs := loadgen.Between(b.load.Outcomes(), from, to)
		failed, _ := failures(outs)
		run := BaselineRun{Failed: failed, Requests: len(outs), NotSent: b.load.SkippedBetween(from, to), Result: res}
		r.rep.Baseline = append(r.rep.Baseline, run)
		r.progress("bad release %d/%d, all-at-once: %d of %d production requests failed, %d not sent; flipped back %s after the flip (check: %d of %d failed)",
			i+1, r.cfg.Runs, failed, len(outs), run.NotSent, res.FlippedBack.Sub(res.Flipped).Round(time.Millisecond), res.Check.Failures, res.Check.Requests)
	}
	return nil
}

// canary deploys the bad candidate with relayshift: first with a fault
// only production traffic sees (the canary and the alarm path catch it),
// then with one the test route sees too (the warm-up catches it).
func (r *runner) canary(ctx context.Context) error {
	b, err := r.startLab(ctx, nil)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.startLoad(ctx); err != nil {
		return err
	}
	for _, hidden := range []bool{true, false} {
		if err := b.l.SetFaults("green", badFaults(b.l, hidden)); err != nil {
			return err
		}
		for i := range r.cfg.Runs {
			if err := b.waitAlarmsOK(ctx); err != nil {
				return err
			}
			version := fmt.Sprintf("v3-bad%d", i+1)
			if !hidden {
				version = fmt.Sprintf("v3-loud%d", i+1)
			}
			run, err := b.badDeployment(ctx, version)
			if err != nil {
				return err
			}
			what := "canary"
			if hidden {
				r.rep.Canary = append(r.rep.Canary, run)
			} else {
				what = "fault on the test route too"
				r.rep.WarmupCaught = append(r.rep.WarmupCaught, run)
			}
			how := "alarm path, onset → restored " + run.Restored.Sub(run.Onset).Round(time.Millisecond).String()
			if run.Path != "alarm" {
				how = "pipeline path, " + run.FailedState + " failed"
			}
			r.progress("bad release %d/%d, relayshift (%s): %d of %d production requests failed, %d not sent; %s", i+1, r.cfg.Runs, what, run.Failed, run.Requests, run.NotSent, how)
		}
	}
	// The cost of a rollback by the alarm path: over the runs it rolled
	// back (a run the pipeline rolled back itself costs something else).
	var costs []Cost
	for _, run := range alarmPath(r.rep.Canary) {
		var extra []Invocation
		if run.RollbackInvocation != nil {
			extra = append(extra, *run.RollbackInvocation)
		}
		costs = append(costs, Price(b.usage(run.Execution, extra...)))
	}
	r.rep.RolledBackCost = medianCost(costs)
	return nil
}

// badDeployment deploys version onto the faulty candidate and reads how it
// was rolled back.
func (b *benchLab) badDeployment(ctx context.Context, version string) (CanaryRun, error) {
	x, err := b.deployOnce(ctx, version, b.r.strategy, 2*time.Minute)
	if err != nil {
		return CanaryRun{}, err
	}
	arn := x.ARN
	if x.Status == statemachine.StatusSucceeded {
		return CanaryRun{}, fmt.Errorf("%s: a candidate failing every production request was promoted", version)
	}
	run := CanaryRun{Execution: x, Path: "pipeline", Restored: x.Stop}
	// The rollback function stops the execution first, then restores: its
	// answer can come after the execution ended.
	if x.Status == statemachine.StatusAborted {
		if err := b.waitRestored(ctx, arn, 10*time.Second, 2*time.Millisecond); err != nil {
			return CanaryRun{}, fmt.Errorf("%s: execution aborted, but %w", version, err)
		}
	}
	if d, _, ok := b.l.Restored(arn); ok {
		run.Path, run.Received, run.Restored = "alarm", d.Received, d.Delivered
		run.RollbackInvocation = &Invocation{Function: d.Function, Via: "EventBridge", Duration: d.Delivered.Sub(d.Received)}
		var ev alarmevent.Event
		if err := json.Unmarshal(d.Event, &ev); err == nil {
			run.Alarm = ev.Detail.State.Timestamp.Time
		}
	} else {
		run.FailedState = failedState(x)
	}
	if err := poll.Sleep(ctx, settle); err != nil {
		return CanaryRun{}, err
	}
	to := run.Restored.Add(settle)
	outs := loadgen.Between(b.load.Outcomes(), x.Start, to)
	run.Failed, run.Onset = failures(outs)
	run.Requests, run.NotSent = len(outs), b.load.SkippedBetween(x.Start, to)
	return run, nil
}

// failedState names what sent a pipeline-path rollback: the verdict of an
// Evaluate step, or the last state entered before the Roll back state.
func failedState(x Execution) string {
	if slices.Contains(x.Entered, "Verdict is rollback") {
		return "Evaluate (verdict rollback)"
	}
	for i, s := range x.Entered {
		if s == "Roll back" && i > 0 {
			return x.Entered[i-1]
		}
	}
	return "(unknown)"
}

// rollbackLatency measures the rollback function from the alarm event to
// the verified weights, Events times: each time a deployment is at its
// first step (10%) and the candidate's alarm goes into ALARM.
func (r *runner) rollbackLatency(ctx context.Context) error {
	// One warm-up request per model and no stream: the deployments only
	// need to reach their first bake, quickly.
	b, err := r.startLab(ctx, func(c *lab.Config) { c.Parameters = map[string]string{"WarmupRequests": "1", "WarmupStreams": "0"} })
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.startLoad(ctx); err != nil {
		return err
	}
	alarm := b.fc.AlarmPrefix + "green-5xx-rate"
	strategy := deploy.Strategy{Steps: []int{10, 100}, BakeSeconds: 3600}
	for i := range r.cfg.Events {
		arn, err := b.deploy(fmt.Sprintf("v2-ev%d", i+1), strategy)
		if err != nil {
			return err
		}
		err = poll.Until(ctx, 5*time.Millisecond, time.Minute, "the deployment's first bake", func(context.Context) (bool, error) {
			x, err := b.history(arn)
			if err != nil {
				return false, err
			}
			if x.Status != "" {
				return false, fmt.Errorf("deployment %d ended before its first bake: %s", i+1, b.describe(arn, x))
			}
			return slices.Contains(x.Entered, "Bake step"), nil
		})
		if err != nil {
			return err
		}
		if err := b.l.Alarms.SetState(alarm, monitoring.StateOK, "bench: reset before the event", ""); err != nil {
			return err
		}
		if err := b.l.Alarms.SetState(alarm, monitoring.StateAlarm, fmt.Sprintf("bench: rollback event %d", i+1), ""); err != nil {
			return err
		}
		if err := b.waitRestored(ctx, arn, 10*time.Second, time.Millisecond); err != nil {
			return fmt.Errorf("event %d: %w", i+1, err)
		}
		d, out, _ := b.l.Restored(arn)
		w := b.l.Production.Weights()
		if w[b.l.Green.ARN()] != 0 || w[b.l.Blue.ARN()] == 0 {
			return fmt.Errorf("event %d: the rollback function answered %+v, but the listener holds %v", i+1, out.After, w)
		}
		r.rep.Rollback.Latencies = append(r.rep.Rollback.Latencies, d.Delivered.Sub(d.Received))
		r.rep.Rollback.HandlerMs = append(r.rep.Rollback.HandlerMs, out.ElapsedMs)
		if _, err := b.wait(ctx, arn, 30*time.Second); err != nil {
			return err
		}
		if (i+1)%10 == 0 || i+1 == r.cfg.Events {
			r.progress("rollback events %d/%d: p50 so far %s", i+1, r.cfg.Events, percentile.NearestRank(slices.Sorted(slices.Values(r.rep.Rollback.Latencies)), 50).Round(10*time.Microsecond))
		}
	}
	return nil
}

// weightCycle is the sequence of weights the weight-change run goes
// through: every step differs from the one before, and full flips both
// ways are included.
var weightCycle = []deploy.Weights{
	{Blue: 90, Green: 10}, {Blue: 75, Green: 25}, {Blue: 50, Green: 50}, {Blue: 25, Green: 75}, {Blue: 10, Green: 90}, {Blue: 0, Green: 100},
	{Blue: 10, Green: 90}, {Blue: 25, Green: 75}, {Blue: 50, Green: 50}, {Blue: 75, Green: 25}, {Blue: 90, Green: 10}, {Blue: 100, Green: 0},
}

// healthy runs the measurements on healthy colours in one lab: weight
// changes under load, the proxy's throughput, healthy deployments, and
// the bootstraps' init under aws-lambda-rie (pointed at this lab).
func (r *runner) healthy(ctx context.Context) error {
	b, err := r.startLab(ctx, nil)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.startLoad(ctx); err != nil {
		return err
	}
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	if err := r.weightChanges(ctx, b); err != nil {
		return err
	}
	b.stopLoad()
	if err := r.throughput(ctx, b); err != nil {
		return err
	}
	if err := b.startLoad(ctx); err != nil {
		return err
	}
	if err := r.deployments(ctx, b); err != nil {
		return err
	}
	b.stopLoad()
	return r.bootstraps(ctx, b)
}

// weightChanges changes the weights WeightChanges times through the ELBv2
// API with relayshift's own adapter (write, read back), while the
// production load and a load of streamed completions run; then, as a
// control, lets the same loads run as long at a fixed 50/50 split.
func (r *runner) weightChanges(ctx context.Context, b *benchLab) error {
	streams, err := loadgen.Start(ctx, loadgen.Config{
		URL: b.l.Production.URL() + "/v1/chat/completions", Request: loadgen.Request{Method: http.MethodPost, Body: streamBody, Header: apiHeader()},
		Rate: r.cfg.Rate / 2, Concurrency: loadConcurrency, MaxRequests: int(r.cfg.Rate * 120), MaxDuration: 2 * time.Minute,
		Timeout: 5 * time.Second, ColourHeader: b.l.LB.ColourHeader(),
	})
	if err != nil {
		return err
	}
	defer streams.Stop()
	router := alb.New(elbv2.NewFromConfig(b.l.AWSConfig()), alb.Listener{ListenerARN: b.l.Production.ARN(), Blue: b.l.Blue.ARN(), Green: b.l.Green.ARN()})
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	window := func(from, to time.Time, byColour map[string]int) Tally {
		t := tally(append(loadgen.Between(b.load.Outcomes(), from, to), loadgen.Between(streams.Outcomes(), from, to)...), byColour)
		t.NotSent = b.load.SkippedBetween(from, to) + streams.SkippedBetween(from, to)
		return t
	}
	from := time.Now()
	for i := range r.cfg.WeightChanges {
		if _, err := router.SetWeights(ctx, weightCycle[i%len(weightCycle)]); err != nil {
			return fmt.Errorf("weight change %d: %w", i+1, err)
		}
		if err := poll.Sleep(ctx, r.cfg.WeightInterval); err != nil {
			return err
		}
	}
	to := time.Now()
	// The control: no change for as long, both colours serving.
	if _, err := router.SetWeights(ctx, deploy.Weights{Blue: 50, Green: 50}); err != nil {
		return err
	}
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	cfrom := time.Now()
	if err := poll.Sleep(ctx, to.Sub(from)); err != nil {
		return err
	}
	cto := time.Now()
	// Back to blue alone for what follows.
	if _, err := router.SetWeights(ctx, deploy.Weights{Blue: 100}); err != nil {
		return err
	}
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	streams.Stop()
	r.rep.NotSent += streams.Skipped()
	w := WeightChanges{Changes: r.cfg.WeightChanges, Interval: r.cfg.WeightInterval, Elapsed: to.Sub(from), ByColour: map[string]int{}}
	w.Changed = window(from, to, w.ByColour)
	w.Control = window(cfrom, cto, nil)
	r.rep.Weights = w
	r.progress("%d weight changes in %s: %d of %d requests failed (broken after their headers: %d; blue %d, green %d), %d not sent; control, no change for as long: %d of %d failed (broken: %d), %d not sent",
		w.Changes, w.Elapsed.Round(time.Millisecond), w.Changed.Failed, w.Changed.Requests, w.Changed.BrokenAfterHeaders,
		w.ByColour["blue"], w.ByColour["green"], w.Changed.NotSent, w.Control.Failed, w.Control.Requests, w.Control.BrokenAfterHeaders, w.Control.NotSent)
	return nil
}

// tally counts outcomes, their failures, and the failures that had their
// response headers (and colour) but whose body broke; byColour, when not
// nil, receives the requests per serving colour.
func tally(outs []loadgen.Outcome, byColour map[string]int) Tally {
	t := Tally{Requests: len(outs)}
	for _, o := range outs {
		if byColour != nil {
			byColour[o.Colour]++
		}
		if o.Failed() {
			t.Failed++
			if o.Status == 0 && o.Colour != "" {
				t.BrokenAfterHeaders++
			}
		}
	}
	return t
}

// throughput runs closed-loop trials against the blue relaysim targets
// directly and through the production listener (all on blue), alternating.
func (r *runner) throughput(ctx context.Context, b *benchLab) error {
	const path = "/v1/chat/completions"
	var direct []string
	for _, s := range b.l.Sims("blue") {
		direct = append(direct, s.URL+path)
	}
	trial := func(urls []string) (loadgen.ClosedResult, error) {
		return loadgen.ClosedLoop{
			URLs: urls,
			// One token: no generation delay, so the trial measures the
			// HTTP path, not relaysim's pacing.
			Request: loadgen.Request{Method: http.MethodPost, Header: apiHeader(),
				Body: []byte(`{"model":"sim-small","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)},
			Workers: r.cfg.ThroughputWorkers, Duration: r.cfg.ThroughputDuration, MaxRequests: 200000, Timeout: 5 * time.Second,
		}.Run(ctx)
	}
	t := Throughput{Workers: r.cfg.ThroughputWorkers, Duration: r.cfg.ThroughputDuration}
	for i := range r.cfg.Runs {
		d, err := trial(direct)
		if err != nil {
			return err
		}
		p, err := trial([]string{b.l.Production.URL() + path})
		if err != nil {
			return err
		}
		t.Direct, t.Proxy = append(t.Direct, d.PerSecond()), append(t.Proxy, p.PerSecond())
		t.Failures += d.Failures + p.Failures
		r.progress("throughput trial %d/%d: direct %.0f req/s, through the lab's ALB %.0f req/s", i+1, r.cfg.Runs, d.PerSecond(), p.PerSecond())
	}
	r.rep.Throughput = t
	return nil
}

// deployments deploys healthy versions to promotion with the strategy and
// the default post-promotion bake.
func (r *runner) deployments(ctx context.Context, b *benchLab) error {
	if err := poll.Sleep(ctx, settle); err != nil {
		return err
	}
	var costs []Cost
	for i := range r.cfg.Runs {
		x, err := b.deployOnce(ctx, fmt.Sprintf("v%d", i+2), r.strategy, 3*time.Minute)
		if err != nil {
			return err
		}
		if x.Status != statemachine.StatusSucceeded {
			return fmt.Errorf("healthy deployment %d: %s", i+1, b.describe(x.ARN, x))
		}
		r.rep.Promoted = append(r.rep.Promoted, x)
		costs = append(costs, Price(b.usage(x)))
		r.progress("healthy deployment %d/%d promoted in %s: overhead %s over %s of configured waits, %d transitions, %d invocations",
			i+1, r.cfg.Runs, x.Total().Round(time.Millisecond), x.Overhead().Round(time.Millisecond), x.ConfiguredWait, x.Transitions(), len(x.Invocations))
	}
	r.rep.PromotedCost = medianCost(costs)
	return nil
}

// medianCost returns the cost whose total is the median (the lower middle
// for an even count).
func medianCost(cs []Cost) Cost {
	if len(cs) == 0 {
		return Cost{}
	}
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b Cost) int {
		switch {
		case a.Total() < b.Total():
			return -1
		case a.Total() > b.Total():
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// bootstraps times each bootstrap's cold start under aws-lambda-rie, with
// the environment the template gives it in this lab.
func (r *runner) bootstraps(ctx context.Context, b *benchLab) error {
	fns, err := b.l.Stack.Functions()
	if err != nil {
		return err
	}
	timeouts := map[string]int{}
	for _, f := range fns {
		timeouts[f.Name] = f.Timeout
	}
	base := os.Environ()
	for i := range r.rep.Bootstraps {
		bs := &r.rep.Bootstraps[i]
		name := ""
		for deployed, fn := range b.fnNames {
			if fn == bs.Name {
				name = deployed
			}
		}
		if name == "" {
			return fmt.Errorf("function %s is not in the lab", bs.Name)
		}
		run := rieRun{RIE: r.rie, Bootstrap: filepath.Join(r.hostDir, bs.Name), Warm: r.cfg.WarmInvokes,
			Env: functionEnv(base, b.l.FunctionEnv(name), name, bs.MemoryMB, timeouts[name])}
		for range r.cfg.ColdStarts {
			res, err := run.run(ctx)
			if err != nil {
				return fmt.Errorf("%s under aws-lambda-rie: %w", bs.Name, err)
			}
			bs.InitMs = append(bs.InitMs, res.InitMs)
			bs.FirstMinusWarm = append(bs.FirstMinusWarm, res.First-medianDuration(res.Warm))
		}
		r.progress("%s: %.1f MiB (linux/arm64), init %.1f ms (median of %d cold starts under aws-lambda-rie)",
			bs.Name, float64(bs.Size)/(1<<20), medianFloat(bs.InitMs), len(bs.InitMs))
	}
	return nil
}
