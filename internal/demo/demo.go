package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/poll"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// The demo's fixed choices.
const (
	// strategy is used by both deployments: its 5-minute bake outlasts the
	// template's 5xx-rate alarm (two 1-minute periods), so a release that
	// fails under production traffic is caught by the alarm path before
	// the canary's evaluation.
	strategy = deploy.Canary10Percent5Minutes
	// postPromotionBake is how long v2 is watched at 100% (AWS time).
	postPromotionBake = 120
	// apiKey is the relaysim instances' API key, served by the lab's
	// Secrets Manager to the health check and the warm-up.
	apiKey = "sk-relayshift-demo-0000"
	// tokenInterval paces relaysim's tokens, so latencies are not zero.
	tokenInterval = 2 * time.Millisecond
	// settle and window: the real requests that verify where the traffic
	// is start settle after a story's end, for window.
	settle = 300 * time.Millisecond
	window = 2 * time.Second
	// pollEvery is how often the demo reads an execution's status.
	pollEvery = 200 * time.Millisecond
)

// errTimeout is the cause of the demo's context when --timeout passes.
var errTimeout = errors.New("out of time (--timeout)")

// Run validates cfg, runs the demo, writing the timeline and the summary
// to stdout and problems to stderr, and returns the exit code (ExitOK...).
// When ctx ends (cmd/relayshift ends it on SIGINT and SIGTERM) it stops
// cleanly, leaving nothing running, with ExitInterrupted.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "relayshift demo: %v\n", err)
		return ExitUsage
	}
	st, err := deploy.ParseStrategy(strategy)
	if err != nil {
		fmt.Fprintf(stderr, "relayshift demo: %v\n", err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, errTimeout)
	defer cancel()
	d := &demo{cfg: cfg, strategy: st, out: stdout, errw: stderr, now: time.Now, versions: &releases{}}
	return d.run(ctx)
}

type demo struct {
	cfg Config
	// strategy is the preset both stories deploy with.
	strategy  deploy.Strategy
	out, errw io.Writer
	now       func() time.Time

	lab          *lab.Lab
	sfn          *sfn.Client
	ctl          *stepfn.Control
	router       *alb.Router
	load         *load
	tl           *timeline
	versions     *releases
	stateMachine string
	service      string
	// alarmPeriod is the 5xx-rate alarm's period (AWS time).
	alarmPeriod time.Duration
	minRequests int
}

// scaled returns how long an AWS-side duration lasts in the lab.
func (d *demo) scaled(aws time.Duration) time.Duration {
	return time.Duration(float64(aws) * d.cfg.TimeScale)
}

// shown is scaled, rounded for people.
func (d *demo) shown(aws time.Duration) time.Duration {
	return d.scaled(aws).Round(100 * time.Millisecond)
}

func (d *demo) run(ctx context.Context) int {
	t0 := d.now()
	logOut := io.Discard
	if d.cfg.Verbose {
		logOut = d.errw
	}
	d.minRequests = minRequests(d.cfg, d.strategy)
	l, err := lab.Start(ctx, d.labConfig(), lab.Options{Log: slog.New(slog.NewTextHandler(logOut, nil)), FunctionLog: logOut})
	if err != nil {
		hint := ""
		if errors.Is(err, fs.ErrNotExist) {
			hint = " (run it from the repository's root, or pass --template)"
		}
		fmt.Fprintf(d.errw, "relayshift demo: the lab did not start: %v%s\n", err, hint)
		return ExitUsage
	}
	d.lab = l
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := l.Close(cctx); err != nil {
			fmt.Fprintf(d.errw, "relayshift demo: stopping the lab: %v\n", err)
		}
	}()
	if err := d.connect(); err != nil {
		fmt.Fprintf(d.errw, "relayshift demo: %v\n", err)
		return ExitUsage
	}
	if err := l.WaitHealthy(ctx, "blue"); err != nil {
		return d.stopped(ctx, fmt.Errorf("blue v1: %w", err))
	}
	d.versions.set(d.now(), "blue", "v1")
	d.load, err = startLoad(ctx, l.Production.URL(), apiKey, l.LB.ColourHeader(), d.cfg.Rate, d.cfg.StreamEvery, d.cfg.Timeout)
	if err != nil {
		fmt.Fprintf(d.errw, "relayshift demo: %v\n", err)
		return ExitUsage
	}
	defer d.load.stop()

	if err := d.waitAlarmsEvaluated(ctx); err != nil {
		return d.stopped(ctx, err)
	}
	d.header()
	period := d.scaled(d.alarmPeriod)
	d.tl = newTimeline(d.out, t0, d.now)
	d.tl.watch(&alarmSource{alarms: l.Alarms})
	d.tl.watch(&deliverySource{bus: l.Bus})
	d.tl.watch(&trafficSource{load: d.load, versions: d.versions, period: period, grace: 500 * time.Millisecond, next: d.now().Add(period)})
	d.tl.note("lab", "blue v1 (2 relaysim targets) carries all production traffic; green has no targets")
	d.tl.start(ctx)

	stories := d.stories()
	var told []*Story
	for _, s := range stories {
		told = append(told, s)
		d.tell(ctx, s)
		s.judge()
		if len(s.Problems) > 0 || ctx.Err() != nil {
			break // the next story stands on this one's end
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	d.tl.stop(fctx)
	cancel()
	d.load.stop()

	summary(d.out, told, d.load.outcomes(), d.load.skipped(), d.now().Sub(t0))
	if ctx.Err() != nil {
		return d.stopped(ctx, nil)
	}
	var problems []string
	for _, s := range told {
		for _, p := range s.Problems {
			problems = append(problems, fmt.Sprintf("story %d (%s): %s", s.N, s.Version, p))
		}
	}
	for _, s := range stories[len(told):] {
		problems = append(problems, fmt.Sprintf("story %d (%s) was not told: the story before it did not end as expected", s.N, s.Version))
	}
	if len(problems) > 0 {
		fmt.Fprintln(d.out, "\nResult: FAILED")
		for _, p := range problems {
			fmt.Fprintf(d.errw, "relayshift demo: %s\n", p)
			fmt.Fprintf(d.out, "  - %s\n", p)
		}
		return ExitUnexpected
	}
	fmt.Fprintf(d.out, "\nResult: OK — v2 was promoted; v3 was rolled back by the %s path; all traffic is on green (v2), by the ELBv2 API and by the colour header of real requests.\n", told[len(told)-1].Path)
	return ExitOK
}

// stopped reports an interrupt or a timeout.
func (d *demo) stopped(ctx context.Context, err error) int {
	why := "interrupted"
	if errors.Is(context.Cause(ctx), errTimeout) {
		why = fmt.Sprintf("out of time after %s (--timeout)", d.cfg.Timeout)
	}
	if ctx.Err() == nil && err != nil {
		fmt.Fprintf(d.errw, "relayshift demo: %v\n", err)
		return ExitUnexpected
	}
	fmt.Fprintf(d.errw, "relayshift demo: %s; the lab is stopped and nothing is left running\n", why)
	return ExitInterrupted
}

// minRequests is the Evaluate function's RELAYSHIFT_MIN_REQUESTS for the
// load: half the requests the candidate gets during the strategy's first
// bake, at most the template's default (50), at least 5.
func minRequests(cfg Config, st deploy.Strategy) int {
	bake := float64(st.BakeSeconds) * cfg.TimeScale // seconds, real time
	expected := cfg.Rate * float64(st.Steps[0]) / 100 * bake
	return min(max(int(expected/2), 5), 50)
}

func (d *demo) labConfig() lab.Config {
	// Free loopback ports: the demo runs beside a lab or another demo.
	cfg := lab.EphemeralConfig(d.cfg.Template, d.cfg.TimeScale, apiKey, tokenInterval)
	cfg.Parameters = map[string]string{"EvaluateMinRequests": strconv.Itoa(d.minRequests)}
	return cfg
}

// connect builds the AWS clients the demo uses against the lab, as the CLI
// does: Step Functions to start and follow the deployments, ELBv2 to read
// the listener's weights.
func (d *demo) connect() error {
	fc, err := d.lab.FunctionsConfig()
	if err != nil {
		return fmt.Errorf("the functions' configuration in the lab: %w", err)
	}
	if fc.StateMachineARN == "" {
		return fmt.Errorf("the template gives the functions no %s", functions.EnvStateMachineARN)
	}
	d.stateMachine, d.service = fc.StateMachineARN, fc.Service
	cfg := d.lab.AWSConfig()
	d.sfn = sfn.NewFromConfig(cfg)
	d.ctl = stepfn.NewControl(d.sfn)
	d.router = alb.New(elbv2.NewFromConfig(cfg), alb.Listener{ListenerARN: fc.ListenerARN, RuleARN: fc.RuleARN,
		Blue: fc.BlueTargetGroupARN, Green: fc.GreenTargetGroupARN})
	d.alarmPeriod = time.Minute
	if as, err := d.lab.Alarms.Describe(monitoring.AlarmFilter{}); err == nil {
		for _, a := range as {
			if strings.HasSuffix(a.AlarmName, "blue-5xx-rate") {
				d.alarmPeriod = time.Duration(a.PeriodSeconds()) * time.Second
			}
		}
	}
	return nil
}

func (d *demo) header() {
	l := d.lab
	w := d.out
	alarms, _ := l.Alarms.Describe(monitoring.AlarmFilter{})
	fmt.Fprintln(w, "relayshift demo: two deployments through the real state machine, on the local lab (loopback only)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  template     %s: %d alarms, state machine %s\n", d.cfg.Template, len(alarms), d.stateMachine[strings.LastIndex(d.stateMachine, ":")+1:])
	for _, r := range l.Bus.Rules() {
		fmt.Fprintf(w, "  rule         %s -> %s\n", r.Name, r.Target.Function)
	}
	fmt.Fprintf(w, "  time         AWS time %.0fx faster (--time-scale %g): a minute lasts %s\n", 1/d.cfg.TimeScale, d.cfg.TimeScale, d.shown(time.Minute))
	fmt.Fprintf(w, "  AWS APIs     %s (ELBv2, CloudWatch, Step Functions, Secrets Manager)\n", l.Endpoint())
	fmt.Fprintf(w, "  production   %s (%s names the colour that served each request)\n", l.Production.URL(), l.LB.ColourHeader())
	stream := "none streamed"
	if d.cfg.StreamEvery > 0 {
		stream = fmt.Sprintf("1 in %d streamed", d.cfg.StreamEvery)
	}
	fmt.Fprintf(w, "  load         %g chat completions/s on production, %s (--rate)\n", d.cfg.Rate, stream)
	fmt.Fprintf(w, "  evaluation   Evaluate needs %d candidate requests per step (EvaluateMinRequests, for this load)\n", d.minRequests)
	fmt.Fprintf(w, "\ntraffic lines: per %s (an alarm period here), requests each colour served (colour header), failed (5xx or no answer), p99 latency\n",
		d.shown(d.alarmPeriod))
}

func (d *demo) stories() []*Story {
	return []*Story{
		{N: 1, Title: "healthy release", Version: "v2", Commit: "2f6e1a9", Candidate: "green", Stable: "green", Want: wantPromoted},
		{N: 2, Title: "faulty release", Version: "v3", Commit: "3bd7c40", Candidate: "blue", Stable: "green", Want: wantRolledBack,
			Faults: fmt.Sprintf("%g%% of its production chat completions fail with a 500", d.cfg.ErrorRate*100)},
	}
}

// tell runs one story: release the version on its colour, deploy it,
// follow it to its end, and verify where the traffic is.
func (d *demo) tell(ctx context.Context, s *Story) {
	bake := time.Duration(d.strategy.BakeSeconds) * time.Second
	heading := fmt.Sprintf("== Story %d of 2: %s, a %s, onto %s ==\n   %s: %d%% for %s (%s here), then 100%%", s.N, s.Version, s.Title, s.Candidate,
		d.strategy.Name(), d.strategy.Steps[0], bake, d.shown(bake))
	rel := lab.RelaysimConfig{Instances: 2, Version: s.Version, TokenInterval: lab.Duration(tokenInterval)}
	if s.Want == wantPromoted {
		heading += fmt.Sprintf(", watched %s (%s here) before Finalize", postPromotionBake*time.Second, d.shown(postPromotionBake*time.Second))
	} else {
		rel.Faults = map[string]any{"errorRate": d.cfg.ErrorRate, "exemptHeader": d.lab.TestHeader()}
		heading += fmt.Sprintf("\n   %s; requests carrying %s (the test route: health check, warm-up) are exempt", s.Faults, d.lab.TestHeader())
		heading += fmt.Sprintf("\n   the 5xx-rate alarm (2 periods of %s, %s here) should fire before the bake ends", d.alarmPeriod, d.shown(d.alarmPeriod))
	}
	d.tl.add(line{at: d.now(), text: heading})

	// The release, as CI does it before starting the deployment (release
	// mode external).
	old := len(d.lab.Sims(s.Candidate))
	if err := d.lab.Release(s.Candidate, rel); err != nil {
		s.Err = fmt.Errorf("release %s on %s: %w", s.Version, s.Candidate, err)
		return
	}
	d.versions.set(d.now(), s.Candidate, s.Version)
	what := fmt.Sprintf("%s on %s: %d relaysim targets registered", s.Version, s.Candidate, rel.Instances)
	if old > 0 {
		what += fmt.Sprintf(", the %d old ones deregistered (draining)", old)
	}
	if rel.Faults != nil {
		what += fmt.Sprintf("; faults errorRate %g, exemptHeader %s", d.cfg.ErrorRate, d.lab.TestHeader())
	}
	d.tl.note("release", "%s", what)
	if err := d.lab.WaitHealthy(ctx, s.Candidate); err != nil {
		s.Err = fmt.Errorf("release %s on %s: %w", s.Version, s.Candidate, err)
		return
	}
	d.tl.note("release", "%s targets healthy; the candidate colour has only %s", s.Candidate, s.Version)

	// The deployment, started and followed through the Step Functions API.
	st, post := d.strategy, postPromotionBake
	input, err := json.Marshal(deploy.Request{Version: s.Version, Commit: s.Commit, Strategy: &st, PostPromotionBakeSeconds: &post})
	if err != nil {
		s.Err = err
		return
	}
	started, err := d.ctl.Start(ctx, d.stateMachine, deploy.DeploymentID(d.service, s.Version, s.Commit), string(input))
	if err != nil {
		s.Err = fmt.Errorf("start the deployment: %w", err)
		return
	}
	s.Execution = started.ARN
	d.tl.watch(&execSource{label: s.Version, hist: d.ctl.History(started.ARN), scale: d.cfg.TimeScale})
	det, err := d.waitEnded(ctx, started.ARN)
	if err != nil {
		s.Err = err
		return
	}
	s.Status, s.Error, s.Cause, s.Started, s.Stopped = string(det.Status), det.Error, det.Cause, det.Started, det.Stopped
	s.End = s.Stopped
	if s.Error == string(deploy.RolledBack) {
		if det.Status == "ABORTED" {
			// The rollback function stops the execution first, then
			// restores: wait (a few seconds at most) for its answer. Without
			// one, rollbackPath says what stopped the execution instead.
			err := poll.Until(ctx, 50*time.Millisecond, 10*time.Second, "the rollback function's answer", func(context.Context) (bool, error) {
				_, _, ok := d.lab.Restored(det.ARN)
				return ok, nil
			})
			if err != nil && !errors.Is(err, poll.ErrTimedOut) {
				s.Err = err
				return
			}
		}
		history, err := stepfn.NewHistory(d.sfn, det.ARN).Next(ctx)
		if err != nil {
			s.Err = fmt.Errorf("read the history: %w", err)
			return
		}
		rb := rollbackPath(det, history, d.lab.Restored)
		s.Path, s.PathDetail, s.Restored, s.Alarm, s.AlarmAt = rb.Path, rb.Detail, rb.Restored, rb.Alarm, rb.AlarmAt
		if s.Restored.After(s.End) {
			s.End = s.Restored
		}
		d.tl.note("rollback", "rolled back by the %s path: %s", strings.ToUpper(s.Path), s.PathDetail)
	}
	d.verify(ctx, s)
}

// waitEnded polls the execution until it ends. A failed read is returned
// as it is, not waited out.
func (d *demo) waitEnded(ctx context.Context, arn string) (stepfn.Detail, error) {
	var det stepfn.Detail
	err := poll.Until(ctx, pollEvery, 0, "execution "+arn[strings.LastIndex(arn, ":")+1:], func(ctx context.Context) (bool, error) {
		var err error
		det, err = d.ctl.Detail(ctx, arn)
		return err == nil && det.Ended(), err
	})
	return det, err
}

// verify reads the weights through the ELBv2 API and watches real
// requests after the story's end.
func (d *demo) verify(ctx context.Context, s *Story) {
	w, err := d.router.Weights(ctx)
	if err != nil {
		s.WeightsErr = err.Error()
		d.tl.note("check", "ELBv2 DescribeListeners failed: %v", err)
	} else {
		s.Weights = &w
		d.tl.note("check", "ELBv2 DescribeListeners: %s, %s", w, share(w))
	}
	from := s.End.Add(settle)
	to := from.Add(window)
	if err := poll.Sleep(ctx, time.Until(to.Add(500*time.Millisecond))); err != nil {
		return
	}
	outs := d.load.outcomes()
	s.After = loadgen.Between(outs, from, to)
	during := loadgen.Between(outs, s.Started, s.End)
	s.During = loadgen.ByColour(during)
	on, ok := 0, 0
	for _, o := range s.After {
		if o.Colour == s.Stable {
			on++
		}
		if !o.Failed() {
			ok++
		}
	}
	d.tl.note("check", "real requests in the %s after the end: %d, served by %s: %d, succeeded: %d", window, len(s.After), s.Stable, on, ok)
	if s.Want != wantRolledBack {
		return
	}
	for _, o := range during {
		if o.Colour != s.Candidate {
			continue
		}
		if s.Onset.IsZero() {
			s.Onset = o.At
		}
		s.LastOnCandidate = o.At
	}
	if s.Onset.IsZero() || s.Restored.IsZero() {
		return
	}
	at := func(t time.Time) string { return fmt.Sprintf("%.1fs", t.Sub(d.tl.t0).Seconds()) }
	steps := []string{fmt.Sprintf("first production request on %s at %s", s.Version, at(s.Onset))}
	if !s.AlarmAt.IsZero() {
		steps = append(steps, fmt.Sprintf("%s in ALARM at %s", s.Alarm, at(s.AlarmAt)))
	}
	steps = append(steps, fmt.Sprintf("traffic restored at %s", at(s.Restored)),
		fmt.Sprintf("the last production request %s served started at %s", s.Version, at(s.LastOnCandidate)))
	d.tl.note("fault", "%s\n=> %s from fault onset to all traffic on %s", strings.Join(steps, "; "), s.OnsetToStable().Round(10*time.Millisecond), s.Stable)
	if s.Alarm != "" {
		if err := d.waitAlarmOK(ctx, s.Alarm); err != nil && !errors.Is(err, poll.ErrTimedOut) && ctx.Err() == nil {
			s.Err = err
		}
	}
}

// waitAlarmsEvaluated waits, for an evaluation interval at most, until the
// lab has evaluated the alarms once (none is INSUFFICIENT_DATA any more),
// so that the timeline starts from their settled state. Running out of
// time is not an error.
func (d *demo) waitAlarmsEvaluated(ctx context.Context) error {
	err := poll.Until(ctx, 50*time.Millisecond, d.scaled(time.Minute)+time.Second, "the alarms' first evaluation", func(context.Context) (bool, error) {
		as, err := d.lab.Alarms.Describe(monitoring.AlarmFilter{StateValue: monitoring.StateInsufficientData})
		return len(as) == 0, err
	})
	if errors.Is(err, poll.ErrTimedOut) {
		return nil
	}
	return err
}

// waitAlarmOK waits, for a few alarm periods at most, until an alarm that
// fired is back to OK (the timeline shows the transition); the error wraps
// poll.ErrTimedOut when it is not.
func (d *demo) waitAlarmOK(ctx context.Context, name string) error {
	return poll.Until(ctx, 100*time.Millisecond, 4*d.scaled(d.alarmPeriod), name+" back to OK", func(context.Context) (bool, error) {
		as, err := d.lab.Alarms.Describe(monitoring.AlarmFilter{Names: []string{name}})
		return err == nil && (len(as) == 0 || as[0].State.Value == monitoring.StateOK), err
	})
}

// share renders who carries the traffic.
func share(w deploy.Weights) string {
	if c, ok := w.Sole(); ok {
		return "all traffic on " + string(c)
	}
	return fmt.Sprintf("blue %d%%, green %d%%", w.Percent(deploy.Blue), w.Percent(deploy.Green))
}
