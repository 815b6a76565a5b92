package functions_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab/labtest"
)

// trafficCore is the tier-3 set-up: an AWS backend (moto_server, or the
// local lab) holding an ALB and a state machine, and the preflight, shift
// and finalize bootstraps under aws-lambda-rie pointed at it through the
// recorder.
type trafficCore struct {
	// aws is the backend's endpoint behind the recording proxy.
	aws       *emulators.Moto
	alb       emulators.ALB
	sm        string
	elb       *elbv2.Client
	preflight *emulators.Function
	shift     *emulators.Function
	finalize  *emulators.Function
}

var (
	binDir         string
	bootstrapsOnce sync.Once
	bootstraps     map[string]string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relayshift-bootstraps-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builtFunctions builds each bootstrap once per test binary.
func builtFunctions(t testing.TB) map[string]string {
	t.Helper()
	bootstrapsOnce.Do(func() {
		bootstraps = map[string]string{}
		for _, name := range []string{"preflight", "shift", "finalize"} {
			bootstraps[name] = emulators.BuildFunction(t, binDir, name)
		}
	})
	return bootstraps
}

// backends are where the tier-3 tests send their AWS calls: moto_server
// and the local lab. The test code is the same for both; only the endpoint
// differs, which proves the lab answers these operations as moto does.
var backends = []string{"moto", "lab"}

// forEachBackend runs test once per backend, as a subtest named after it.
func forEachBackend(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// startBackend starts a backend holding an ALB: in moto, the one
// emulators.CreateALB builds; in the lab, its own load balancer shaped the
// same (labtest.Start).
func startBackend(t testing.TB, backend string) (*emulators.Moto, emulators.ALB) {
	t.Helper()
	switch backend {
	case "moto":
		m := emulators.StartMoto(t)
		return m, emulators.CreateALB(t, m, "relay")
	case "lab":
		b := labtest.Start(t)
		return b.AWS, b.ALB
	}
	t.Fatalf("unknown backend %q", backend)
	return nil, emulators.ALB{}
}

func startTrafficCore(t testing.TB, backend string, extraEnv map[string]string) *trafficCore {
	t.Helper()
	m, a := startBackend(t, backend)
	env := emulators.Env(m.URL)
	maps.Copy(env, a.Env())
	maps.Copy(env, extraEnv)
	bins := builtFunctions(t)
	return &trafficCore{
		aws: m, alb: a,
		sm:        emulators.StateMachine(t, m.Direct, "relayshift-deploy"),
		elb:       elbv2.NewFromConfig(emulators.AWSConfig(m.Direct)),
		preflight: emulators.StartFunction(t, "preflight", bins["preflight"], env),
		shift:     emulators.StartFunction(t, "shift", bins["shift"], env),
		finalize:  emulators.StartFunction(t, "finalize", bins["finalize"], env),
	}
}

// forward returns the forward action of the listener (or rule) as the
// backend holds it.
func (c *trafficCore) forward(t testing.TB, rule bool) elbtypes.Action {
	t.Helper()
	var acts []elbtypes.Action
	if rule {
		out, err := c.elb.DescribeRules(context.Background(), &elbv2.DescribeRulesInput{RuleArns: []string{c.alb.RuleARN}})
		if err != nil {
			t.Fatal(err)
		}
		acts = out.Rules[0].Actions
	} else {
		out, err := c.elb.DescribeListeners(context.Background(), &elbv2.DescribeListenersInput{ListenerArns: []string{c.alb.ListenerARN}})
		if err != nil {
			t.Fatal(err)
		}
		acts = out.Listeners[0].DefaultActions
	}
	if len(acts) != 1 || acts[0].Type != elbtypes.ActionTypeEnumForward {
		t.Fatalf("want one forward action, got %+v", acts)
	}
	return acts[0]
}

// weights reads the blue and green weights the backend holds.
func (c *trafficCore) weights(t testing.TB, rule bool) deploy.Weights {
	t.Helper()
	var w deploy.Weights
	for _, tg := range c.forward(t, rule).ForwardConfig.TargetGroups {
		switch aws.ToString(tg.TargetGroupArn) {
		case c.alb.BlueARN:
			w.Blue = int(aws.ToInt32(tg.Weight))
		case c.alb.GreenARN:
			w.Green = int(aws.ToInt32(tg.Weight))
		default:
			t.Fatalf("unexpected target group %s", aws.ToString(tg.TargetGroupArn))
		}
	}
	return w
}

// invoke calls a function and checks that every AWS call it made is among
// the IAM actions declared for it (functions.All), which the template grants.
func invoke(t testing.TB, m *emulators.Moto, f *emulators.Function, payload, out any) emulators.Result {
	t.Helper()
	m.Reset()
	res, err := f.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, f.Logs())
	}
	spec, ok := functions.Lookup(f.Name)
	if !ok {
		t.Fatalf("no function %q in functions.All", f.Name)
	}
	for _, c := range m.Calls() {
		if !slices.Contains(spec.IAMActions, c.IAMAction()) {
			t.Errorf("%s called %s, which its IAM actions do not declare", f.Name, c.IAMAction())
		}
	}
	if out != nil {
		if res.ErrorType != "" {
			t.Fatalf("%s failed: %s: %s", f.Name, res.ErrorType, res.ErrorMessage)
		}
		emulators.DecodeJSON(t, res.Payload, out)
	}
	return res
}

func writes(r *emulators.Recorder) []string {
	var out []string
	for _, a := range r.Actions() {
		if strings.HasPrefix(a, "Modify") || strings.HasSuffix(a, "Tags") && a != "DescribeTags" {
			out = append(out, a)
		}
	}
	return out
}

func TestEmulatorTrafficCore(t *testing.T) {
	forEachBackend(t, testTrafficCore)
}

func testTrafficCore(t *testing.T, backend string) {
	for _, mode := range []string{"listener", "rule"} {
		t.Run(mode, func(t *testing.T) {
			rule := mode == "rule"
			c := startTrafficCore(t, backend, nil)
			if rule {
				// The rule ARN is only known after the backend created it,
				// so the functions are restarted with it.
				env := emulators.Env(c.aws.URL)
				maps.Copy(env, c.alb.Env())
				env["RELAYSHIFT_RULE_ARN"] = c.alb.RuleARN
				bins := builtFunctions(t)
				c.preflight = emulators.StartFunction(t, "preflight", bins["preflight"], env)
				c.shift = emulators.StartFunction(t, "shift", bins["shift"], env)
				c.finalize = emulators.StartFunction(t, "finalize", bins["finalize"], env)
			}
			execARN := emulators.StartExecution(t, c.aws.Direct, c.sm, "relay-v2-abc1234")

			var rec deploy.Record
			invoke(t, c.aws, c.preflight, map[string]any{
				"executionArn": execARN,
				"request": map[string]any{
					"version": "v2", "commit": "abc1234",
					"strategy": map[string]any{"steps": []int{10, 100}, "bakeSeconds": 60},
				},
			}, &rec)
			if rec.Stable != deploy.Blue || rec.Candidate != deploy.Green || rec.Before != (deploy.Weights{Blue: 1}) {
				t.Fatalf("record: stable %s candidate %s before %s", rec.Stable, rec.Candidate, rec.Before)
			}
			if rec.ID != "relay-v2-abc1234" {
				t.Errorf("id = %q", rec.ID)
			}

			shift := func(step int) deploy.ShiftOutput {
				var out deploy.ShiftOutput
				invoke(t, c.aws, c.shift, map[string]any{"executionArn": execARN, "deployment": rec, "step": step}, &out)
				return out
			}
			for _, tc := range []struct {
				step int
				want deploy.Weights
			}{
				{0, deploy.Weights{Blue: 90, Green: 10}},
				{1, deploy.Weights{Blue: 0, Green: 100}},
			} {
				out := shift(tc.step)
				if got := c.weights(t, rule); got != tc.want {
					t.Fatalf("step %d: the backend holds %s, want %s", tc.step, got, tc.want)
				}
				if !out.Changed || out.Weights != tc.want {
					t.Fatalf("step %d output: %+v", tc.step, out)
				}
				modify := "ModifyListener"
				if rule {
					modify = "ModifyRule"
				}
				if n := strings.Count(strings.Join(c.aws.Actions(), " "), modify); n != 1 {
					t.Fatalf("step %d: %d %s calls, want 1: %v", tc.step, n, modify, c.aws.Actions())
				}
				// Stickiness survives the complete-list write.
				st := c.forward(t, rule).ForwardConfig.TargetGroupStickinessConfig
				if st == nil || !aws.ToBool(st.Enabled) || aws.ToInt32(st.DurationSeconds) != 300 {
					t.Fatalf("step %d: stickiness lost: %+v", tc.step, st)
				}

				// The same shift again writes nothing.
				again := shift(tc.step)
				if again.Changed {
					t.Errorf("step %d repeated: reported a change", tc.step)
				}
				if w := writes(c.aws.Recorder); len(w) != 0 {
					t.Fatalf("step %d repeated: wrote %v", tc.step, w)
				}
			}
			if rule {
				out, err := c.elb.DescribeRules(context.Background(), &elbv2.DescribeRulesInput{RuleArns: []string{c.alb.RuleARN}})
				if err != nil {
					t.Fatal(err)
				}
				if conds := out.Rules[0].Conditions; len(conds) != 1 || aws.ToString(conds[0].Field) != "path-pattern" {
					t.Fatalf("rule conditions changed: %+v", conds)
				}
				if got := c.weights(t, false); got != (deploy.Weights{Blue: 1}) {
					t.Fatalf("rule mode touched the default action: %s", got)
				}
			}

			var sum deploy.Summary
			invoke(t, c.aws, c.finalize, map[string]any{"executionArn": execARN, "deployment": rec}, &sum)
			if sum.From != deploy.Blue || sum.To != deploy.Green || !slices.Equal(sum.Steps, []int{10, 100}) {
				t.Fatalf("summary: %+v", sum)
			}
		})
	}
}

func TestEmulatorPreflightRejectsInvalidInput(t *testing.T) {
	forEachBackend(t, testPreflightRejectsInvalidInput)
}

func testPreflightRejectsInvalidInput(t *testing.T, backend string) {
	c := startTrafficCore(t, backend, nil)
	execARN := emulators.StartExecution(t, c.aws.Direct, c.sm, "relay-bad")
	before := c.forward(t, false)
	for _, tc := range []struct{ name, payload string }{
		{"unknown field", `{"executionArn":"` + execARN + `","request":{"version":"v2","colour":"green"}}`},
		{"missing version", `{"executionArn":"` + execARN + `","request":{"commit":"abc1234"}}`},
		{"steps not ending at 100", `{"executionArn":"` + execARN + `","request":{"version":"v2","strategy":{"steps":[10,50],"bakeSeconds":60}}}`},
		{"unknown preset", `{"executionArn":"` + execARN + `","request":{"version":"v2","strategy":"Canary99Percent"}}`},
		{"not JSON", `{"executionArn":`},
		{"bad execution ARN", `{"executionArn":"arn:nope","request":{"version":"v2"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := invoke(t, c.aws, c.preflight, []byte(tc.payload), nil)
			if res.ErrorType != string(deploy.InvalidInput) {
				t.Fatalf("errorType = %q (%s), want InvalidInput", res.ErrorType, res.ErrorMessage)
			}
			if calls := c.aws.Actions(); len(calls) != 0 {
				t.Fatalf("invalid input reached AWS: %v", calls)
			}
		})
	}
	if diff := cmp.Diff(before, c.forward(t, false), cmp.AllowUnexported(elbtypes.Action{}, elbtypes.ForwardActionConfig{},
		elbtypes.TargetGroupTuple{}, elbtypes.TargetGroupStickinessConfig{})); diff != "" {
		t.Fatalf("listener changed (-before +after):\n%s", diff)
	}
}

func TestEmulatorLockRefusesSecondDeployment(t *testing.T) {
	forEachBackend(t, testLockRefusesSecondDeployment)
}

func testLockRefusesSecondDeployment(t *testing.T, backend string) {
	c := startTrafficCore(t, backend, nil)
	first := emulators.StartExecution(t, c.aws.Direct, c.sm, "relay-v2-aaaa")
	second := emulators.StartExecution(t, c.aws.Direct, c.sm, "relay-v3-bbbb")
	c.preflight.MustSucceed(t, map[string]any{"executionArn": first, "request": map[string]any{"version": "v2"}}, nil)
	res, err := c.preflight.Invoke(context.Background(), map[string]any{"executionArn": second, "request": map[string]any{"version": "v3"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorType != string(deploy.DeploymentInProgress) {
		t.Fatalf("second deployment: errorType %q (%s), want DeploymentInProgress", res.ErrorType, res.ErrorMessage)
	}
	if !strings.Contains(res.ErrorMessage, "relay-v2-aaaa") {
		t.Errorf("message does not name the holder: %s", res.ErrorMessage)
	}
}
