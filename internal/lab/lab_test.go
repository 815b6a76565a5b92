package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/lab/statemachine"
	"github.com/relayshift/relayshift/internal/relaysim"
	"github.com/relayshift/relayshift/internal/rollback"
)

// relay is a stand-in relay: /health answers 200; other paths answer 200,
// or 500 for every failEvery-th request when failEvery > 0.
func relay(t *testing.T, name string, failEvery *atomic.Int64) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		if k := failEvery.Load(); k > 0 && n.Add(1)%k == 0 {
			http.Error(w, "upstream failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"served_by":%q}`, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func testConfig(t *testing.T, blue, green []string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Template = filepath.Join("testdata", "template.yaml")
	cfg.Endpoint, cfg.LoadBalancer.Production, cfg.LoadBalancer.Test = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TimeScale = 1.0 / 600 // a 60-second alarm period lasts 100 ms
	cfg.LoadBalancer.HealthCheck.Interval = Duration(50 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.Timeout = Duration(40 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.HealthyThreshold = 1
	cfg.Blue, cfg.Green = ColourConfig{URLs: blue}, ColourConfig{URLs: green}
	return cfg
}

func startLab(t *testing.T, cfg Config) *Lab {
	t.Helper()
	l, err := Start(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func (l *Lab) awsConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", ""), BaseEndpoint: aws.String(l.Endpoint())}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string, header ...string) (colour string, status int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get(loadbalancer.DefaultColourHeader), resp.StatusCode
}

func TestLabFromTemplate(t *testing.T) {
	var never atomic.Int64
	l := startLab(t, testConfig(t, []string{relay(t, "b1", &never).URL}, []string{relay(t, "g1", &never).URL}))

	env := l.Env()
	for k, want := range map[string]string{
		"AWS_ENDPOINT_URL":                  l.Endpoint(),
		"RELAYSHIFT_LISTENER_ARN":           l.Production.ARN(),
		"RELAYSHIFT_BLUE_TARGET_GROUP_ARN":  l.Blue.ARN(),
		"RELAYSHIFT_GREEN_TARGET_GROUP_ARN": l.Green.ARN(),
		"RELAYSHIFT_ALARM_PREFIX":           "relayshift-relay-",
		"RELAYSHIFT_STATE_MACHINE_ARN":      "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["RELAYSHIFT_RULE_ARN"]; ok {
		t.Error("empty RELAYSHIFT_RULE_ARN exported")
	}

	// The template's alarms, read back through the CloudWatch API.
	cw := cloudwatch.NewFromConfig(l.awsConfig())
	out, err := cw.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("relayshift-relay-")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range out.MetricAlarms {
		names = append(names, aws.ToString(a.AlarmName))
	}
	if strings.Join(names, " ") != "relayshift-relay-green-5xx-rate relayshift-relay-green-p99-latency relayshift-relay-green-unhealthy-hosts" {
		t.Fatalf("alarms %v", names)
	}
	dims := out.MetricAlarms[0].Metrics[0].MetricStat.Metric.Dimensions
	if aws.ToString(dims[0].Value) != l.LB.Dimension() || aws.ToString(dims[1].Value) != l.Green.Dimension() {
		t.Fatalf("alarm dimensions %v %v, want the lab's %s %s", aws.ToString(dims[0].Value), aws.ToString(dims[1].Value), l.LB.Dimension(), l.Green.Dimension())
	}
	if rules := l.Bus.Rules(); len(rules) != 1 || rules[0].Target.Function != "relayshift-RollbackFunction" {
		t.Fatalf("rules %+v", rules)
	}

	// Production serves blue; the test route reaches the colour its header
	// names, and nothing without it.
	waitFor(t, "targets healthy", func() bool {
		c, s := get(t, l.Test.URL()+"/v1/models", "X-Relayshift-Colour", "green")
		return c == "green" && s == 200
	})
	for range 10 {
		if c, _ := get(t, l.Production.URL()+"/v1/models"); c != "blue" {
			t.Fatalf("production served %q", c)
		}
	}
	if c, s := get(t, l.Test.URL()+"/v1/models", "x-relayshift-colour", "blue"); c != "blue" || s != 200 {
		t.Fatalf("test route with blue: %q %d", c, s)
	}
	if c, s := get(t, l.Test.URL()+"/v1/models"); c != "" || s != http.StatusNotFound {
		t.Fatalf("test route without the header: %q %d, want 404", c, s)
	}
	if env["RELAYSHIFT_TEST_HEADER"] != "x-relayshift-colour: {colour}" || env["RELAYSHIFT_TEST_URL"] != l.Test.URL() {
		t.Fatalf("test route env %q %q", env["RELAYSHIFT_TEST_URL"], env["RELAYSHIFT_TEST_HEADER"])
	}
	// A shift through the ELBv2 API moves production traffic.
	elb := elbv2.NewFromConfig(l.awsConfig())
	if _, err := elb.ModifyListener(context.Background(), &elbv2.ModifyListenerInput{ListenerArn: aws.String(l.Production.ARN()),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(l.Blue.ARN()), Weight: aws.Int32(0)}, {TargetGroupArn: aws.String(l.Green.ARN()), Weight: aws.Int32(100)}}}}}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := get(t, l.Production.URL()+"/"); c != "green" {
		t.Fatalf("after the shift production served %q", c)
	}
}

// A 5xx storm on green drives the template's alarm into ALARM, and the
// state change reaches the rollback function through the template's rule
// as the AWS-shaped event.
func TestAlarmPathReachesRollbackFunction(t *testing.T) {
	var never, failing atomic.Int64
	failing.Store(2) // every second green request fails: a 50% 5xx rate
	l := startLab(t, testConfig(t, []string{relay(t, "b1", &never).URL}, []string{relay(t, "g1", &failing).URL}))
	waitFor(t, "green healthy", func() bool { _, s := get(t, l.Test.URL()+"/health", "x-relayshift-colour", "green"); return s == 200 })

	// Traffic through the test route until the alarm fires (two 100 ms
	// periods of breaching datapoints), bounded.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, l.Test.URL()+"/v1/chat/completions", nil)
			req.Header.Set("x-relayshift-colour", "green")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	cw := cloudwatch.NewFromConfig(l.awsConfig())
	waitFor(t, "the 5xx-rate alarm in ALARM", func() bool {
		out, err := cw.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"relayshift-relay-green-5xx-rate"}})
		return err == nil && len(out.MetricAlarms) == 1 && out.MetricAlarms[0].StateValue == cwtypes.StateValueAlarm
	})
	close(stop)
	<-done
	waitFor(t, "the rollback function invoked", func() bool { return len(l.Bus.Deliveries()) > 0 })
	d := l.Bus.Deliveries()[0]
	if d.Function != "relayshift-RollbackFunction" {
		t.Fatalf("delivered to %s", d.Function)
	}
	dec := json.NewDecoder(bytes.NewReader(d.Event))
	dec.DisallowUnknownFields()
	var ev alarmevent.Event
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("event %s: %v", d.Event, err)
	}
	ch := ev.Change()
	if ch.AlarmName != "relayshift-relay-green-5xx-rate" || ch.State.Value != "ALARM" || ev.DetailType != alarmevent.DetailTypeStateChange || ev.Source != "aws.cloudwatch" {
		t.Fatalf("event %+v", ev)
	}
	r, err := ch.State.ParseReason()
	if err != nil || len(r.RecentDatapoints) == 0 || r.RecentDatapoints[0] <= 5 {
		t.Fatalf("reason data %+v %v (%s)", r, err, ch.State.Reason)
	}
	t.Logf("alarm reason: %s", ch.State.Reason)
	// The rollback function ran once and succeeded: with no deployment
	// running, it reports nothing to roll back for this alarm.
	if d.Err != "" || d.Attempts != 1 || d.DeadLettered {
		t.Fatalf("delivery: attempts %d, error %q, dead-lettered %v, response %s", d.Attempts, d.Err, d.DeadLettered, d.Response)
	}
	var out rollback.Output
	if err := json.Unmarshal(d.Response, &out); err != nil {
		t.Fatalf("response %s: %v", d.Response, err)
	}
	if out.Action != rollback.ActionNothing || out.Trigger.AlarmName != "relayshift-relay-green-5xx-rate" || out.Trigger.State != "ALARM" {
		t.Fatalf("rollback output %+v", out)
	}
}

func TestLabStopsEverything(t *testing.T) {
	var never atomic.Int64
	l, err := Start(context.Background(), testConfig(t, []string{relay(t, "b", &never).URL}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{strings.TrimPrefix(l.Endpoint(), "http://"), strings.TrimPrefix(l.Production.URL(), "http://"), strings.TrimPrefix(l.Test.URL(), "http://")}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Close", a)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Endpoint = "0.0.0.0:4566"
	cfg.TimeScale = 2
	cfg.LoadBalancer.Stable = "red"
	cfg.Blue.URLs = []string{"ftp://x"}
	cfg.Functions.Mode = "lambda"
	err := cfg.Validate()
	for _, want := range []string{"endpoint", "timeScale", "stable", "blue.urls", "functions.mode"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestRelaysimTargetsReleaseAndSecret(t *testing.T) {
	cfg := testConfig(t, nil, nil)
	cfg.APIKey = "sk-lab-secret"
	cfg.Blue = ColourConfig{Relaysim: &RelaysimConfig{Instances: 2, Version: "v1"}}
	cfg.Green = ColourConfig{Relaysim: &RelaysimConfig{Instances: 1, Version: "v2"}}
	l := startLab(t, cfg)

	call := func(url string, key bool) (colour, version string, status int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/models", nil)
		req.Header.Set("x-relayshift-colour", "green")
		if key {
			req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get(loadbalancer.DefaultColourHeader), resp.Header.Get("X-Relay-Version"), resp.StatusCode
	}
	waitFor(t, "green serving", func() bool { _, _, s := call(l.Test.URL(), true); return s == 200 })
	if c, v, s := call(l.Production.URL(), true); c != "blue" || v != "v1" || s != 200 {
		t.Fatalf("production: %s %s %d", c, v, s)
	}
	if _, _, s := call(l.Test.URL(), false); s != http.StatusUnauthorized {
		t.Fatalf("without the key: %d", s)
	}
	if got := len(l.Blue.Health()); got != 2 {
		t.Fatalf("blue targets: %d", got)
	}

	// The functions find the key through Secrets Manager.
	env := l.Env()
	arn := env["RELAYSHIFT_API_KEY_SECRET_ARN"]
	if arn == "" || env["RELAYSHIFT_TEST_URL"] != l.Test.URL() || env["RELAYSHIFT_WARMUP_MODELS"] != "sim-small,sim-large" {
		t.Fatalf("env %v", env)
	}
	sm := secretsmanager.NewFromConfig(l.awsConfig())
	sec, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil || aws.ToString(sec.SecretString) != cfg.APIKey {
		t.Fatalf("secret: %v", err)
	}

	// An external release of v3 on green: the old target drains, the new
	// one takes over once healthy.
	old := l.Sims("green")[0]
	if err := l.Release("green", RelaysimConfig{Version: "v3"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v3 serving on green", func() bool { _, v, s := call(l.Test.URL(), true); return v == "v3" && s == 200 })
	waitFor(t, "the v2 target deregistered", func() bool { return len(l.Green.Health()) == 1 })
	reachable := func() bool {
		resp, err := http.Get(old.URL + "/health")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true
	}
	waitFor(t, "v2 stopped", func() bool { return !reachable() })
	// Faults on the running instances.
	if err := l.SetFaults("green", relaysim.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, l.Test.URL()+"/v1/chat/completions", strings.NewReader(`{"model":"sim-small","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	req.Header.Set("x-relayshift-colour", "green")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("with errorRate 1: %d", resp.StatusCode)
	}
}

// The project's own template.yaml drives the lab: every function builds
// in process with the environment the template gives it, and the alarms
// and the rollback rule are the template's.
func TestLabWithProjectTemplate(t *testing.T) {
	cfg := testConfig(t, nil, nil)
	cfg.Template = filepath.Join("..", "..", "template.yaml")
	cfg.Blue = ColourConfig{Relaysim: &RelaysimConfig{Version: "v1"}}
	cfg.Green = ColourConfig{Relaysim: &RelaysimConfig{Version: "v2"}}
	cfg.APIKey = "sk-lab"
	l := startLab(t, cfg)
	// Every function of the template is built in process: each answers a
	// garbled payload with its own InvalidInput, not "function not found".
	for _, name := range []string{"relayshift-EvaluateFunction", "relayshift-FinalizeFunction", "relayshift-HealthCheckFunction", "relayshift-PreflightFunction",
		"relayshift-ReleaseFunction", "relayshift-RollbackFunction", "relayshift-ShiftFunction", "relayshift-WarmUpFunction"} {
		_, err := l.Invoker.Invoke(context.Background(), name, []byte("not json"))
		var fe *statemachine.FunctionError
		if !errors.As(err, &fe) || fe.Type != "InvalidInput" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Each function runs with its own Timeout from the template.
	fns, err := l.Stack.Functions()
	if err != nil {
		t.Fatal(err)
	}
	timeouts := map[string]bool{}
	for _, f := range fns {
		got, ok := l.Invoker.(*statemachine.InProcess).Timeout(f.Name)
		if !ok || got != time.Duration(f.Timeout)*time.Second {
			t.Errorf("%s runs with timeout %v, want the template's %d s", f.Name, got, f.Timeout)
		}
		timeouts[got.String()] = true
	}
	if len(timeouts) < 2 {
		t.Errorf("every function has the same timeout %v: the template gives them different ones", timeouts)
	}
	if sms := l.States.StateMachines(); len(sms) != 1 || sms[0].ARN != l.Env()["RELAYSHIFT_STATE_MACHINE_ARN"] {
		t.Fatalf("state machines %+v", sms)
	}
	alarms, err := l.Alarms.Describe(monitoring.AlarmFilter{NamePrefix: l.Env()["RELAYSHIFT_ALARM_PREFIX"]})
	if err != nil || len(alarms) != 6 {
		t.Fatalf("alarms %d %v", len(alarms), err)
	}
	rules := l.Bus.Rules()
	if len(rules) != 1 || rules[0].Target.Function != "relayshift-RollbackFunction" {
		t.Fatalf("rules %+v", rules)
	}
	// The metric store keeps three hours of AWS time at the lab's scale
	// (1/600: 18 s) plus a real minute, not three hours of wall clock; the
	// template's alarms (two or three 60 s periods: at most 0.4 s here)
	// need less.
	if got := l.Metrics.Retention(); got != 18*time.Second+time.Minute {
		t.Errorf("metric retention %v, want 1m18s", got)
	}
	var buf bytes.Buffer
	l.PrintSummary(&buf)
	t.Logf("\n%s", buf.String())
}

// docs/lab.yaml documents every key with its default: reading it gives
// DefaultConfig.
func TestDocumentedConfigIsTheDefault(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "lab.yaml")
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Template = filepath.Join("..", "..", "docs", "..", "template.yaml")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("docs/lab.yaml differs from DefaultConfig (-default +docs):\n%s", diff)
	}
	if _, err := LoadConfig(filepath.Join("testdata", "unknown-key.yaml")); err == nil || !strings.Contains(err.Error(), "field bogus not found") {
		t.Fatalf("unknown key: %v", err)
	}
}

// A template whose state machine uses an ASL feature the engine does not
// implement does not start: the error names the feature.
func TestLabRefusesUnsupportedDefinition(t *testing.T) {
	dir := t.TempDir()
	tpl, err := os.ReadFile(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	asl, err := os.ReadFile(filepath.Join("statemachine", "testdata", "unsupported-parallel.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "template.yaml"), tpl, 0o644)
	os.WriteFile(filepath.Join(dir, "deploy.asl.json"), asl, 0o644)
	cfg := testConfig(t, nil, nil)
	cfg.Template = filepath.Join(dir, "template.yaml")
	l, err := Start(context.Background(), cfg, Options{})
	if err == nil {
		l.Close(context.Background())
		t.Fatal("started with a Parallel state")
	}
	if !strings.Contains(err.Error(), "Parallel") || !strings.Contains(err.Error(), "DeployStateMachine") {
		t.Fatalf("error %v does not name the feature and the state machine", err)
	}
	t.Logf("%v", err)
}
