package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab/awsapi"
	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/lab/stack"
	"github.com/relayshift/relayshift/internal/lab/statemachine"
	"github.com/relayshift/relayshift/internal/relaysim"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// Lab is the whole SAM application running on loopback: the ALB, the AWS
// endpoint, metrics and alarms, the EventBridge bus and the functions.
type Lab struct {
	cfg Config
	log *slog.Logger

	// LB is the load balancer; Production and Test its listeners; Blue and
	// Green its target groups.
	LB               *loadbalancer.LoadBalancer
	Production, Test *loadbalancer.Listener
	Blue, Green      *loadbalancer.TargetGroup
	// RuleARN is the production listener rule carrying the split, when
	// the config asks for one.
	RuleARN string
	// Metrics holds what the load balancer publishes; Alarms are the
	// template's alarms over it.
	Metrics *monitoring.Store
	Alarms  *monitoring.Alarms
	// Bus is the EventBridge default bus with the template's rules.
	Bus *eventbus.Bus
	// Stack is the template as the lab deploys it.
	Stack *stack.Stack
	// Invoker runs the functions (in process, or through an invoke
	// endpoint), for the state machine's tasks and the EventBridge rules.
	Invoker statemachine.Invoker
	// States is the Step Functions engine running the template's state
	// machine.
	States *statemachine.Service

	sims          map[string][]*relaysim.Server // by colour
	simMu         sync.Mutex
	secrets       *awsapi.SecretsManager
	functionNames map[string]string // logical id -> name
	functionEnv   map[string]map[string]string
	router        *awsapi.Router
	endpoint      string
	srv           *http.Server
	ln            net.Listener
	runCtx        context.Context
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	closers       []func(context.Context) error
	closeOnce     sync.Once
}

// Options are the lab's dependencies beyond its Config.
type Options struct {
	// Log receives the lab's own log (default: discarded).
	Log *slog.Logger
	// FunctionLog receives the in-process functions' JSON logs (default:
	// discarded).
	FunctionLog io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ReadFile reads the template's files (default os.ReadFile).
	ReadFile func(string) ([]byte, error)
}

// Start starts a lab. Close it to stop everything it started.
func Start(ctx context.Context, cfg Config, opts Options) (_ *Lab, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.FunctionLog == nil {
		opts.FunctionLog = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	l := &Lab{cfg: cfg, log: opts.Log, functionNames: map[string]string{}, functionEnv: map[string]map[string]string{}, sims: map[string][]*relaysim.Server{}}
	defer func() {
		if err != nil {
			l.Close(context.Background())
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	l.runCtx, l.cancel = runCtx, cancel

	// The AWS endpoint's address is needed before anything calls it.
	l.ln, err = net.Listen("tcp", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("AWS endpoint: %w", err)
	}
	l.endpoint = "http://" + l.ln.Addr().String()
	l.router = awsapi.NewRouter(l.log.With("service", "endpoint"))
	l.srv = &http.Server{Handler: l.router, ReadHeaderTimeout: 10 * time.Second}
	l.wg.Go(func() {
		if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("AWS endpoint stopped", "error", err)
		}
	})

	// CloudWatch, EventBridge.
	// NOTE: the store keeps raw datapoints (percentiles need them) for the
	// longest window the project reads: an Evaluate step window (its bake
	// plus holds; three hours of AWS time covers every preset strategy
	// with the default 600 s hold) at the lab's time scale, plus one real
	// minute because cwmetrics rounds a window's start down to the minute,
	// as CloudWatch does. Alarms extend it to their own windows
	// (Alarms.Put). At 1/60 that is four minutes, not three hours.
	l.Metrics = monitoring.NewStore(opts.Now, time.Duration(float64(3*time.Hour)*cfg.TimeScale)+time.Minute)
	l.Alarms = monitoring.NewAlarms(l.Metrics, monitoring.AlarmsConfig{
		Region: cfg.Region, AccountID: cfg.AccountID, TimeScale: cfg.TimeScale, Now: opts.Now,
		Log: l.log.With("service", "cloudwatch"), OnChange: l.alarmChanged,
	})

	var secrets []awsapi.Secret
	for _, name := range slices.Sorted(maps.Keys(cfg.Secrets)) {
		secrets = append(secrets, awsapi.Secret{Name: name, Value: cfg.Secrets[name]})
	}
	if cfg.APIKey != "" {
		secrets = append(secrets, awsapi.Secret{Name: APIKeySecretName, Value: cfg.APIKey})
	}
	l.secrets = &awsapi.SecretsManager{Region: cfg.Region, AccountID: cfg.AccountID, Secrets: secrets, Created: opts.Now(), Log: l.log.With("service", "secretsmanager")}

	// The load balancer and its targets.
	if err := l.startLoadBalancer(opts.Now); err != nil {
		return nil, err
	}

	// The AWS APIs over them (served as soon as registered: the functions'
	// cold starts call them).
	l.router.Handle(awsapi.ServiceELB, &awsapi.ELB{LB: l.LB, Log: l.log.With("service", "elasticloadbalancing"), VPCID: "vpc-0lab", Created: opts.Now()})
	l.router.Handle(awsapi.ServiceCloudWatch, &awsapi.CloudWatch{Store: l.Metrics, Alarms: l.Alarms, Log: l.log.With("service", "cloudwatch")})
	l.router.Handle(awsapi.ServiceSecretsManager, l.secrets)

	// The template: parameters from the lab's resources, then the stack.
	if err := l.loadStack(opts.ReadFile); err != nil {
		return nil, err
	}

	// The functions.
	fns, err := l.Stack.Functions()
	if err != nil {
		return nil, fmt.Errorf("template functions: %w", err)
	}
	if err := l.startFunctions(fns, opts.FunctionLog); err != nil {
		return nil, err
	}
	l.Bus = eventbus.New(eventbus.Config{
		Invoker: l.Invoker, TimeScale: cfg.TimeScale, Now: opts.Now, Log: l.log.With("service", "events"),
		IsFunctionError: func(err error) bool { var fe *statemachine.FunctionError; return errors.As(err, &fe) },
		OnDelivery: func(d eventbus.Delivery) {
			if d.Err != "" {
				l.log.Error("event delivery failed", "rule", d.Rule, "function", d.Function, "attempts", d.Attempts, "error", d.Err)
				return
			}
			l.log.Info("event delivered", "rule", d.Rule, "function", d.Function, "attempts", d.Attempts,
				"latency", d.Delivered.Sub(d.Received).Round(time.Millisecond).String(), "response", string(d.Response))
		},
	})
	l.closers = append(l.closers, func(context.Context) error { l.Bus.Close(); return nil })
	if err := l.loadEventsAndAlarms(fns); err != nil {
		return nil, err
	}

	if err := l.startStates(opts.ReadFile); err != nil {
		return nil, err
	}
	l.wg.Go(func() { l.Alarms.Run(runCtx) })
	l.log.Info("lab started", "endpoint", l.endpoint, "production", l.Production.URL(), "test", l.Test.URL())
	return l, nil
}

// DefaultTestHeader is the test route's routing header unless the config
// names another: infra/relay.yaml's.
const DefaultTestHeader = "x-relayshift-colour"

// TestHeader returns the test route's routing header name.
func (l *Lab) TestHeader() string {
	if h := l.cfg.LoadBalancer.TestHeader; h != "" {
		return h
	}
	return DefaultTestHeader
}

// Endpoint returns the AWS endpoint's URL (AWS_ENDPOINT_URL).
func (l *Lab) Endpoint() string { return l.endpoint }

// Config returns the lab's configuration.
func (l *Lab) Config() Config { return l.cfg }

func (l *Lab) startLoadBalancer(now func() time.Time) error {
	cfg := l.cfg.LoadBalancer
	l.LB = loadbalancer.New(loadbalancer.Config{
		Region: l.cfg.Region, AccountID: l.cfg.AccountID, Name: cfg.Name, ColourHeader: cfg.ColourHeader,
		Metrics: metricSink{l.Metrics}, Log: l.log.With("service", "alb"), Now: now,
	})
	l.closers = append(l.closers, l.stopSims, l.LB.Close)
	hc := loadbalancer.HealthCheck{Path: cfg.HealthCheck.Path, Interval: time.Duration(cfg.HealthCheck.Interval), Timeout: time.Duration(cfg.HealthCheck.Timeout),
		HealthyThreshold: cfg.HealthCheck.HealthyThreshold, UnhealthyThreshold: cfg.HealthCheck.UnhealthyThreshold, Matcher: cfg.HealthCheck.Matcher}
	var err error
	for _, c := range []struct {
		colour string
		tg     **loadbalancer.TargetGroup
		cc     ColourConfig
	}{{"blue", &l.Blue, l.cfg.Blue}, {"green", &l.Green, l.cfg.Green}} {
		*c.tg, err = l.LB.AddTargetGroup(loadbalancer.TargetGroupSpec{Name: cfg.Name + "-" + c.colour, Colour: c.colour, HealthCheck: hc,
			DeregistrationDelay: time.Duration(cfg.DeregistrationDelay), DeregistrationDelaySet: true})
		if err != nil {
			return err
		}
		urls := slices.Clone(c.cc.URLs)
		if r := c.cc.Relaysim; r != nil {
			servers, err := l.startSims(*r)
			if err != nil {
				return fmt.Errorf("%s relaysim: %w", c.colour, err)
			}
			l.sims[c.colour] = servers
			for _, s := range servers {
				urls = append(urls, s.URL)
			}
		}
		if len(urls) > 0 {
			if err := (*c.tg).RegisterTargets(urls...); err != nil {
				return err
			}
		}
	}
	stable := l.Blue
	if cfg.Stable == "green" {
		stable = l.Green
	}
	one := 1
	fwd := &loadbalancer.ForwardConfig{TargetGroups: []loadbalancer.WeightedTargetGroup{{ARN: stable.ARN(), Weight: &one}}}
	if cfg.StickinessSeconds > 0 {
		on, d := true, cfg.StickinessSeconds
		fwd.Stickiness = &loadbalancer.Stickiness{Enabled: &on, DurationSeconds: &d}
	}
	if l.Production, err = l.LB.AddListener(loadbalancer.ListenerSpec{Key: "production", Addr: cfg.Production,
		DefaultActions: []loadbalancer.Action{{Type: loadbalancer.ActionForward, Forward: fwd}}}); err != nil {
		return err
	}
	// The test route, as infra/relay.yaml builds it: a fixed 404 without
	// the routing header, a rule per colour with it.
	header := l.TestHeader()
	if l.Test, err = l.LB.AddListener(loadbalancer.ListenerSpec{Key: "test", Addr: cfg.Test,
		DefaultActions: []loadbalancer.Action{{Type: loadbalancer.ActionFixedResponse, FixedResponse: &loadbalancer.FixedResponse{
			StatusCode: "404", ContentType: "text/plain", MessageBody: "test route: send " + header + ": blue or green"}}}}); err != nil {
		return err
	}
	for i, tg := range []*loadbalancer.TargetGroup{l.Blue, l.Green} {
		if _, err := l.LB.AddRule(l.Test.ARN(), loadbalancer.RuleSpec{Key: "test-" + tg.Colour(), Priority: 10 * (i + 1),
			Conditions: []loadbalancer.Condition{{Field: "http-header", HTTPHeaderName: header, HTTPHeaderValues: []string{tg.Colour()}}},
			Actions:    []loadbalancer.Action{{Type: loadbalancer.ActionForward, TargetGroupARN: tg.ARN()}}}); err != nil {
			return err
		}
	}
	if r := cfg.Rule; r != nil {
		rule, err := l.LB.AddRule(l.Production.ARN(), loadbalancer.RuleSpec{Key: "split", Priority: r.Priority,
			Conditions: []loadbalancer.Condition{{Field: "path-pattern", Values: r.PathPatterns}},
			Actions:    []loadbalancer.Action{{Type: loadbalancer.ActionForward, Forward: fwd}}})
		if err != nil {
			return err
		}
		l.RuleARN = rule.ARN
	}
	return nil
}

// metricSink publishes the load balancer's datapoints into the store.
type metricSink struct{ s *monitoring.Store }

func (m metricSink) Publish(ns string, at time.Time, data []loadbalancer.Datum) {
	for _, d := range data {
		dims := make([]monitoring.Dimension, len(d.Dimensions))
		for i, x := range d.Dimensions {
			dims[i] = monitoring.Dimension{Name: x.Name, Value: x.Value}
		}
		m.s.Put(monitoring.Metric{Namespace: ns, MetricName: d.Name, Dimensions: dims}, at, d.Value)
	}
}

// relayshiftValues are the RELAYSHIFT_* values the lab's own resources
// determine.
func (l *Lab) relayshiftValues() map[string]string {
	v := map[string]string{
		functions.EnvListenerARN:  l.Production.ARN(),
		functions.EnvBlueTG:       l.Blue.ARN(),
		functions.EnvGreenTG:      l.Green.ARN(),
		functions.EnvReleaseMode:  functions.ReleaseExternal,
		functions.EnvTestURL:      l.Test.URL(),
		functions.EnvTestHeader:   l.TestHeader() + ": " + functions.ColourPlaceholder,
		functions.EnvWarmupModels: strings.Join(l.models(), ","),
	}
	if l.cfg.APIKey != "" {
		v[functions.EnvAPIKeySecretARN] = l.secrets.ARN(APIKeySecretName)
	}
	if l.RuleARN != "" {
		v[functions.EnvRuleARN] = l.RuleARN
	}
	return v
}

func (l *Lab) loadStack(read func(string) ([]byte, error)) error {
	tpl, err := samtemplate.Read(read, l.cfg.Template)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	values := tpl.ParametersFromEnvironment(l.relayshiftValues())
	maps.Copy(values, l.cfg.Parameters)
	params, err := tpl.Bind(values)
	if err != nil {
		return fmt.Errorf("template %s: %w", l.cfg.Template, err)
	}
	l.Stack = &stack.Stack{T: tpl, Params: params, Region: l.cfg.Region, AccountID: l.cfg.AccountID, StackName: l.cfg.StackName}
	return nil
}

// AWSConfig is an SDK configuration that sends every client to the lab's
// AWS endpoint, with the lab's region and static credentials: what the
// in-process functions get, and what a program driving the lab (the demo,
// the bench) builds its clients from.
func (l *Lab) AWSConfig() aws.Config {
	return aws.Config{
		Region:       l.cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("lab", "lab", ""),
		BaseEndpoint: aws.String(l.endpoint),
	}
}

func (l *Lab) startFunctions(fns []stack.Function, logOut io.Writer) error {
	byLogicalID := map[string]functions.Function{}
	for _, f := range functions.All() {
		byLogicalID[f.LogicalID] = f
	}
	if l.cfg.Functions.Mode == FunctionsEndpoint {
		for _, f := range fns {
			l.functionNames[f.LogicalID] = f.Name
			l.functionEnv[f.Name] = f.Env
		}
		if len(l.cfg.Functions.Endpoints) == 0 {
			l.Invoker = statemachine.NewHTTPInvoker(l.cfg.Functions.Endpoint, &http.Client{})
			return nil
		}
		byName := map[string]string{}
		for id, u := range l.cfg.Functions.Endpoints {
			name, ok := l.functionNames[id]
			if !ok {
				return fmt.Errorf("functions.endpoints: %s is not a function of the template", id)
			}
			byName[name] = u
		}
		l.Invoker = statemachine.NewRIEInvoker(byName, &http.Client{})
		return nil
	}
	handlers := map[string]statemachine.InProcessFunction{}
	for _, f := range fns {
		l.functionNames[f.LogicalID] = f.Name
		l.functionEnv[f.Name] = f.Env
		spec, ok := byLogicalID[f.LogicalID]
		if !ok {
			l.log.Warn("function in the template is not built into this binary; invoking it fails", "function", f.LogicalID)
			continue
		}
		env := f.Env
		cfg, err := functions.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			return fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		h, err := spec.Build(cfg, l.AWSConfig(), functions.NewLogger(logOut, slog.LevelInfo).With("function", spec.Name))
		if err != nil {
			return fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		// Each function runs with its own Timeout from the template (not
		// time-scaled: it bounds real work), unless the config overrides
		// it for all.
		timeout := time.Duration(f.Timeout) * time.Second
		if l.cfg.Functions.Timeout > 0 {
			timeout = time.Duration(l.cfg.Functions.Timeout)
		}
		handlers[f.Name] = statemachine.InProcessFunction{Handler: h, Timeout: timeout}
	}
	l.Invoker = statemachine.NewInProcess(handlers, l.cfg.Region, l.cfg.AccountID)
	return nil
}

// FunctionName returns the name of the function with a logical id.
func (l *Lab) FunctionName(logicalID string) (string, bool) {
	n, ok := l.functionNames[logicalID]
	return n, ok
}

func (l *Lab) loadEventsAndAlarms(fns []stack.Function) error {
	for _, f := range fns {
		for _, r := range f.Rules {
			p, err := eventbus.Compile(r.Pattern)
			if err != nil {
				return fmt.Errorf("%s.Events.%s: %w", f.LogicalID, r.Name, err)
			}
			t := eventbus.Target{Function: f.Name, RetryPolicy: r.RetryPolicy}
			if err := l.Bus.AddRule(eventbus.Rule{Name: l.cfg.StackName + "-" + f.LogicalID + r.Name, Pattern: p, Target: t}); err != nil {
				return err
			}
			l.log.Info("EventBridge rule", "rule", r.Name, "target", f.Name)
		}
	}
	alarms, err := l.Stack.Alarms()
	if err != nil {
		return fmt.Errorf("template alarms: %w", err)
	}
	for _, a := range alarms {
		var spec monitoring.AlarmSpec
		if err := a.Decode(&spec); err != nil {
			return err
		}
		if err := l.Alarms.Put(spec); err != nil {
			return fmt.Errorf("alarm %s: %w", a.LogicalID, err)
		}
		l.log.Info("alarm", "name", spec.AlarmName)
	}
	return nil
}

// alarmChanged puts the state-change event on the bus, as CloudWatch does.
func (l *Lab) alarmChanged(c monitoring.StateChange) {
	ev := c.Event()
	l.log.Info("alarm state change", "alarm", c.Alarm.AlarmName, "from", c.Previous.Value, "to", c.Alarm.State.Value, "reason", c.Alarm.State.Reason)
	if l.Bus == nil {
		return
	}
	if _, err := l.Bus.Put(monitoring.EventJSON(ev)); err != nil {
		l.log.Error("could not put the alarm event on the bus", "error", err)
	}
}

// Env returns the environment that points a function binary or the CLI at
// the lab: the AWS endpoint and credentials, and the RELAYSHIFT_* variables
// the template gives the functions (non-empty ones).
func (l *Lab) Env() map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL":          l.endpoint,
		"AWS_REGION":                l.cfg.Region,
		"AWS_DEFAULT_REGION":        l.cfg.Region,
		"AWS_ACCESS_KEY_ID":         "lab",
		"AWS_SECRET_ACCESS_KEY":     "lab",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	for _, fe := range l.functionEnv {
		for k, v := range fe {
			if strings.HasPrefix(k, "RELAYSHIFT_") && v != "" {
				env[k] = v
			}
		}
	}
	return env
}

// FunctionsConfig returns the configuration the functions read from the
// environment the template gives them in this lab (Env): the state
// machine, the service name (default "relay"), the alarm prefix, the
// listener and target groups.
func (l *Lab) FunctionsConfig() (functions.Config, error) {
	env := l.Env()
	return functions.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// Restored returns the first delivery of an event in which the rollback
// function answered, without an error, that it restored the traffic of
// the execution executionARN, with its answer; false when there is none
// (yet).
func (l *Lab) Restored(executionARN string) (eventbus.Delivery, rollback.Output, bool) {
	for _, d := range l.Bus.Deliveries() {
		var out rollback.Output
		if d.Err == "" && json.Unmarshal(d.Response, &out) == nil && out.ExecutionARN == executionARN && out.Action == rollback.ActionRestored {
			return d, out, true
		}
	}
	return eventbus.Delivery{}, rollback.Output{}, false
}

// FunctionEnv returns the environment of one function (by name), as the
// template gives it, plus the lab's AWS variables: what a bootstrap under
// aws-lambda-rie needs.
func (l *Lab) FunctionEnv(name string) map[string]string {
	env := map[string]string{}
	maps.Copy(env, l.functionEnv[name])
	for k, v := range l.Env() {
		if strings.HasPrefix(k, "AWS_") {
			env[k] = v
		}
	}
	return env
}

// Close stops everything the lab started, in reverse order.
func (l *Lab) Close(ctx context.Context) error {
	var errs []error
	l.closeOnce.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		if l.srv != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := l.srv.Shutdown(sctx); err != nil {
				l.srv.Close()
			}
			cancel()
		}
		for i := len(l.closers) - 1; i >= 0; i-- {
			if err := l.closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
		l.wg.Wait()
	})
	return errors.Join(errs...)
}
