package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/rollback"
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

func apiHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + benchKey}, "Content-Type": {"application/json"}}
}

// chatRequest is the production load's request.
func chatRequest() loadgen.Request {
	return loadgen.Request{Method: http.MethodPost, Body: chatBody, Header: apiHeader()}
}

// benchLab is one lab of the run, with its production load.
type benchLab struct {
	r       *runner
	l       *lab.Lab
	load    *loadgen.Run
	smARN   string
	service string
	prefix  string
	waits   map[string]waitSpec
	// fnNames maps a deployed function's name to functions/<name>.
	fnNames map[string]string
	seq     int
}

// startLab starts a lab on free loopback ports: the template's stack, two
// relaysim targets per colour (blue v1 stable, green v2), the functions in
// process, fast health checks. mutate adjusts the config first.
func (r *runner) startLab(ctx context.Context, mutate func(*lab.Config)) (*benchLab, error) {
	cfg := lab.DefaultConfig()
	cfg.Template = r.cfg.Template
	cfg.TimeScale = r.cfg.TimeScale
	cfg.Endpoint, cfg.LoadBalancer.Production, cfg.LoadBalancer.Test = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.LoadBalancer.HealthCheck.Interval = lab.Duration(200 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.Timeout = lab.Duration(150 * time.Millisecond)
	cfg.LoadBalancer.DeregistrationDelay = lab.Duration(time.Second)
	cfg.APIKey = benchKey
	cfg.Blue = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 2, Version: "v1", TokenInterval: lab.Duration(tokenInterval)}}
	cfg.Green = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 2, Version: "v2", TokenInterval: lab.Duration(tokenInterval)}}
	if mutate != nil {
		mutate(&cfg)
	}
	l, err := lab.Start(ctx, cfg, lab.Options{})
	if err != nil {
		return nil, fmt.Errorf("start the lab: %w", err)
	}
	b := &benchLab{r: r, l: l, fnNames: map[string]string{}}
	env := l.Env()
	b.smARN, b.service, b.prefix = env[functions.EnvStateMachineARN], env[functions.EnvService], env[functions.EnvAlarmPrefix]
	if b.service == "" {
		b.service = "relay"
	}
	for _, f := range functions.All() {
		if name, ok := l.FunctionName(f.LogicalID); ok {
			b.fnNames[name] = f.Name
		}
	}
	sms, err := l.Stack.StateMachines(os.ReadFile)
	if err != nil {
		b.close()
		return nil, err
	}
	for _, sm := range sms {
		if sm.ARN == b.smARN {
			if b.waits, err = waitSpecs(sm.Definition); err != nil {
				b.close()
				return nil, err
			}
		}
	}
	if b.waits == nil {
		b.close()
		return nil, fmt.Errorf("the lab has no state machine %s", b.smARN)
	}
	if err := b.waitHealthy(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// close stops the load and the lab.
func (b *benchLab) close() {
	if b.load != nil {
		b.load.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b.l.Close(ctx)
}

func (b *benchLab) waitHealthy(ctx context.Context) error {
	return poll(ctx, 30*time.Second, 20*time.Millisecond, "every target healthy", func() (bool, error) {
		for _, tg := range []*loadbalancer.TargetGroup{b.l.Blue, b.l.Green} {
			hs := tg.Health()
			if len(hs) == 0 {
				return false, nil
			}
			for _, h := range hs {
				if h.State != loadbalancer.StateHealthy {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// startLoad starts the constant production load: Rate small chat
// completions a second, at most 64 in flight, bounded to ten minutes.
func (b *benchLab) startLoad(ctx context.Context) error {
	run, err := loadgen.Start(ctx, loadgen.Config{
		URL: b.l.Production.URL() + "/v1/chat/completions", Request: chatRequest(),
		Rate: b.r.cfg.Rate, Concurrency: 64, MaxRequests: int(b.r.cfg.Rate * 600), MaxDuration: 10 * time.Minute,
		Timeout: 5 * time.Second, ColourHeader: b.l.LB.ColourHeader(),
	})
	if err != nil {
		return err
	}
	b.load = run
	return nil
}

func (b *benchLab) stopLoad() {
	if b.load != nil {
		b.load.Stop()
	}
}

// awsConfig points an SDK client at the lab.
func (b *benchLab) awsConfig() aws.Config {
	return aws.Config{Region: b.l.Config().Region, Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(b.l.Endpoint())}
}

// alarmInfo describes the candidate colour's 5xx-rate alarm.
func (b *benchLab) alarmInfo(suffix string) (AlarmInfo, error) {
	name := b.prefix + suffix
	as, err := b.l.Alarms.Describe(monitoring.AlarmFilter{Names: []string{name}})
	if err != nil || len(as) != 1 {
		return AlarmInfo{}, fmt.Errorf("alarm %s not found in the lab (%v)", name, err)
	}
	a := as[0]
	info := AlarmInfo{Name: name, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm, PeriodSeconds: a.Period}
	if a.Threshold != nil {
		info.Threshold = *a.Threshold
	}
	for _, q := range a.Metrics {
		if q.MetricStat != nil && info.PeriodSeconds == 0 {
			info.PeriodSeconds = q.MetricStat.Period
		}
	}
	return info, nil
}

// deploy starts a deployment of version, as `relayshift deploy` does:
// the execution is named after the deployment id.
func (b *benchLab) deploy(version string, strategy any, postBake *int) (string, error) {
	b.seq++
	commit := fmt.Sprintf("bench%04d", b.seq)
	in := map[string]any{"version": version, "commit": commit, "strategy": strategy}
	if postBake != nil {
		in["postPromotionBakeSeconds"] = *postBake
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	x, err := b.l.States.StartExecution(b.smARN, deploy.DeploymentID(b.service, version, commit), string(raw))
	if err != nil {
		return "", err
	}
	return x.ARN, nil
}

// deployOnce deploys version and waits for the end.
func (b *benchLab) deployOnce(ctx context.Context, version string, strategy any, limit time.Duration) (Execution, error) {
	arn, err := b.deploy(version, strategy, nil)
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

// restored finds the rollback function's delivery that restored traffic
// for the execution arn.
func (b *benchLab) restored(arn string) (eventbus.Delivery, rollback.Output, bool) {
	for _, d := range b.l.Bus.Deliveries() {
		var out rollback.Output
		if d.Err == "" && json.Unmarshal(d.Response, &out) == nil && out.ExecutionARN == arn && out.Action == rollback.ActionRestored {
			return d, out, true
		}
	}
	return eventbus.Delivery{}, rollback.Output{}, false
}

// waitAlarmsOK waits until no alarm is in ALARM, so that the next fault
// makes a new transition (and a new event).
func (b *benchLab) waitAlarmsOK(ctx context.Context) error {
	return poll(ctx, 60*time.Second, 50*time.Millisecond, "every alarm out of ALARM", func() (bool, error) {
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
			u.Metrics += b.r.metricsPerEvaluate
		}
	}
	return u
}

// poll calls done every interval until it reports true, fails, ctx ends,
// or limit passes.
func poll(ctx context.Context, limit, interval time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", limit, what)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return err
		}
	}
}

// pause waits d unless ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if err := sleepCtx(ctx, d); err != nil {
		return errors.New("interrupted")
	}
	return nil
}
