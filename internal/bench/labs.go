package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/poll"
)

// benchKey is the relay API key of the bench's labs: the relaysim targets
// require it, and the functions read it from the lab's Secrets Manager.
const benchKey = "sk-relayshift-bench-1414213562"

// chatBody is the production load's request: a small, non-streamed chat
// completion.
var chatBody = []byte(`{"model":"sim-small","messages":[{"role":"user","content":"ping"}],"max_tokens":4}`)

// streamBody is a streamed chat completion that stays in flight for about
// 16 token intervals.
var streamBody = []byte(`{"model":"sim-small","messages":[{"role":"user","content":"ping"}],"max_tokens":16,"stream":true}`)

// tokenInterval is the relaysim targets' delay between two tokens.
const tokenInterval = 5 * time.Millisecond

// settle is how long after a change the bench waits before counting the
// requests it affected: longer than any request of the load.
const settle = time.Second

// loadConcurrency caps the production load's requests in flight; a
// request due while that many are in flight is not sent (counted as not
// sent).
const loadConcurrency = 64

func apiHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + benchKey}, "Content-Type": {"application/json"}}
}

// chatRequest is the production load's request.
func chatRequest() loadgen.Request {
	return loadgen.Request{Method: http.MethodPost, Body: chatBody, Header: apiHeader()}
}

// benchLab is one lab of the run, with its production load.
type benchLab struct {
	r    *runner
	l    *lab.Lab
	load *loadgen.Run
	// fc is what the functions read in this lab: the state machine, the
	// service, the alarm prefix.
	fc    functions.Config
	waits map[string]waitSpec
	// fnNames maps a deployed function's name to functions/<name>.
	fnNames map[string]string
	seq     int
}

// startLab starts a lab on free loopback ports: the template's stack, two
// relaysim targets per colour (blue v1 stable, green v2), the functions in
// process, fast health checks. mutate adjusts the config first.
func (r *runner) startLab(ctx context.Context, mutate func(*lab.Config)) (*benchLab, error) {
	cfg := lab.EphemeralConfig(r.cfg.Template, r.cfg.TimeScale, benchKey, tokenInterval)
	cfg.Green = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 2, Version: "v2", TokenInterval: lab.Duration(tokenInterval)}}
	if mutate != nil {
		mutate(&cfg)
	}
	l, err := lab.Start(ctx, cfg, lab.Options{})
	if err != nil {
		return nil, fmt.Errorf("start the lab: %w", err)
	}
	b := &benchLab{r: r, l: l, fnNames: map[string]string{}}
	if err := b.init(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// init reads what the bench needs of the running lab and waits for every
// target to be healthy.
func (b *benchLab) init(ctx context.Context) error {
	var err error
	if b.fc, err = b.l.FunctionsConfig(); err != nil {
		return fmt.Errorf("the functions' configuration in the lab: %w", err)
	}
	for _, f := range functions.All() {
		if name, ok := b.l.FunctionName(f.LogicalID); ok {
			b.fnNames[name] = f.Name
		}
	}
	sm, err := b.l.States.DescribeStateMachine(b.fc.StateMachineARN)
	if err != nil {
		return fmt.Errorf("the lab's state machine: %w", err)
	}
	if b.waits, err = waitSpecs([]byte(sm.Definition)); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return b.l.WaitHealthy(hctx)
}

// close stops the load and the lab.
func (b *benchLab) close() {
	b.stopLoad()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b.l.Close(ctx)
}

// startLoad starts the constant production load: Rate small chat
// completions a second, at most loadConcurrency in flight, bounded to ten
// minutes.
func (b *benchLab) startLoad(ctx context.Context) error {
	run, err := loadgen.Start(ctx, loadgen.Config{
		URL: b.l.Production.URL() + "/v1/chat/completions", Request: chatRequest(),
		Rate: b.r.cfg.Rate, Concurrency: loadConcurrency, MaxRequests: int(b.r.cfg.Rate * 600), MaxDuration: 10 * time.Minute,
		Timeout: 5 * time.Second, ColourHeader: b.l.LB.ColourHeader(),
	})
	if err != nil {
		return err
	}
	b.load = run
	return nil
}

// stopLoad stops the production load and counts what it did not send.
func (b *benchLab) stopLoad() {
	if b.load != nil {
		b.load.Stop()
		b.r.rep.NotSent += b.load.Skipped()
		b.load = nil
	}
}

// alarmInfo describes the candidate colour's 5xx-rate alarm.
func (b *benchLab) alarmInfo(suffix string) (AlarmInfo, error) {
	name := b.fc.AlarmPrefix + suffix
	as, err := b.l.Alarms.Describe(monitoring.AlarmFilter{Names: []string{name}})
	if err != nil || len(as) != 1 {
		return AlarmInfo{}, fmt.Errorf("alarm %s not found in the lab (%v)", name, err)
	}
	a := as[0]
	info := AlarmInfo{Name: name, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm, PeriodSeconds: a.PeriodSeconds()}
	if a.Threshold != nil {
		info.Threshold = *a.Threshold
	}
	return info, nil
}

// deploy starts a deployment of version, as `relayshift deploy` does: the
// execution is named after the deployment id.
func (b *benchLab) deploy(version string, strategy deploy.Strategy) (string, error) {
	b.seq++
	commit := fmt.Sprintf("bench%04d", b.seq)
	raw, err := json.Marshal(deploy.Request{Version: version, Commit: commit, Strategy: &strategy})
	if err != nil {
		return "", err
	}
	x, err := b.l.States.StartExecution(b.fc.StateMachineARN, deploy.DeploymentID(b.fc.Service, version, commit), string(raw))
	if err != nil {
		return "", err
	}
	return x.ARN, nil
}

// deployOnce deploys version and waits for the end.
func (b *benchLab) deployOnce(ctx context.Context, version string, strategy deploy.Strategy, limit time.Duration) (Execution, error) {
	arn, err := b.deploy(version, strategy)
	if err != nil {
		return Execution{}, err
	}
	return b.wait(ctx, arn, limit)
}

// wait waits for an execution to end, at most limit, and reads its
// history.
func (b *benchLab) wait(ctx context.Context, arn string, limit time.Duration) (Execution, error) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if _, err := b.l.States.Wait(wctx, arn); err != nil {
		return Execution{}, fmt.Errorf("execution %s did not end within %s: %w", arn, limit, err)
	}
	return b.history(arn)
}

func (b *benchLab) history(arn string) (Execution, error) {
	events, err := b.l.States.History(arn)
	if err != nil {
		return Execution{}, err
	}
	return analyse(arn, events, b.waits, b.r.cfg.TimeScale)
}

// describe says how an execution ended: its status, error and cause, and
// the states it went through.
func (b *benchLab) describe(arn string, x Execution) string {
	d, err := b.l.States.DescribeExecution(arn)
	if err != nil {
		return fmt.Sprintf("%s (%v), states %v", x.Status, err, x.Entered)
	}
	return fmt.Sprintf("%s, %s: %s; states %v", d.Status, d.Error, d.Cause, x.Entered)
}

// waitRestored waits, at most limit, for the rollback function's answer
// that it restored the traffic of execution arn.
func (b *benchLab) waitRestored(ctx context.Context, arn string, limit, interval time.Duration) error {
	return poll.Until(ctx, interval, limit, "the rollback function's answer", func(context.Context) (bool, error) {
		_, _, ok := b.l.Restored(arn)
		return ok, nil
	})
}

// waitAlarmsOK waits until no alarm is in ALARM, so that the next fault
// makes a new transition (and a new event).
func (b *benchLab) waitAlarmsOK(ctx context.Context) error {
	return poll.Until(ctx, 50*time.Millisecond, 60*time.Second, "every alarm out of ALARM", func(context.Context) (bool, error) {
		as, err := b.l.Alarms.Describe(monitoring.AlarmFilter{StateValue: monitoring.StateAlarm})
		return len(as) == 0, err
	})
}

// usage is what an execution (and the rollback function's invocation by
// the alarm path, if any) consumed.
func (b *benchLab) usage(x Execution, extra ...Invocation) Consumption {
	u := Consumption{Transitions: x.Transitions()}
	for _, inv := range append(append([]Invocation(nil), x.Invocations...), extra...) {
		fn := b.fnNames[inv.Function]
		u.Invocations = append(u.Invocations, BilledInvocation{Function: fn, MemoryMB: b.r.memory[fn], Duration: inv.Duration})
		if fn == "evaluate" {
			u.Metrics += b.r.rep.MetricsPerEvaluate
		}
	}
	return u
}
