package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

const (
	listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	blue     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	green    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/0123456789abcdef"
)

func stack(t *testing.T, extra map[string]string) *Stack {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values := tpl.ParametersFromEnvironment(map[string]string{
		"RELAYSHIFT_LISTENER_ARN":           listener,
		"RELAYSHIFT_BLUE_TARGET_GROUP_ARN":  blue,
		"RELAYSHIFT_GREEN_TARGET_GROUP_ARN": green,
		"RELAYSHIFT_NOT_IN_TEMPLATE":        "x",
	})
	for k, v := range extra {
		values[k] = v
	}
	params, err := tpl.Bind(values)
	if err != nil {
		t.Fatal(err)
	}
	return &Stack{T: tpl, Params: params, Region: "us-east-1", AccountID: "123456789012", StackName: "relayshift"}
}

// The lab finds the parameters through the functions' environment, and
// Bind checks them (samtemplate's tests cover every rule).
func TestParametersFromEnvironmentAndBind(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.ParametersFromEnvironment(map[string]string{"RELAYSHIFT_LISTENER_ARN": listener, "RELAYSHIFT_ALARM_PREFIX": "lab-"})
	if diff := cmp.Diff(map[string]string{"ListenerArn": listener, "AlarmPrefix": "lab-"}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	_, err = tpl.Bind(map[string]string{"ListenerArn": "arn:nope", "ReleaseMode": "magic", "Bogus": "1"})
	for _, want := range []string{"parameter Bogus: the template has no such parameter", "parameter BlueTargetGroupArn: no value and no default",
		`parameter ListenerArn: "arn:nope" does not match`, `parameter ReleaseMode: "magic" is not one of`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Bind error %v does not say %q", err, want)
		}
	}
}

func TestFunctionsRulesAndStateMachine(t *testing.T) {
	s := stack(t, nil)
	fns, err := s.Functions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 || fns[0].LogicalID != "RollbackFunction" || fns[1].LogicalID != "ShiftFunction" {
		t.Fatalf("functions (ReleaseFunction is conditional on ecs): %+v", fns)
	}
	rb := fns[0]
	if rb.Name != "relayshift-RollbackFunction" || rb.Timeout != 60 || fns[1].Timeout != 30 {
		t.Fatalf("rollback %+v", rb)
	}
	wantEnv := map[string]string{
		"RELAYSHIFT_SERVICE": "relay", "RELAYSHIFT_LISTENER_ARN": listener, "RELAYSHIFT_RULE_ARN": "",
		"RELAYSHIFT_BLUE_TARGET_GROUP_ARN": blue, "RELAYSHIFT_GREEN_TARGET_GROUP_ARN": green,
		"RELAYSHIFT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy",
		"RELAYSHIFT_ALARM_PREFIX":      "relayshift-relay-",
	}
	if diff := cmp.Diff(wantEnv, rb.Env); diff != "" {
		t.Fatalf("env (-want +got):\n%s", diff)
	}
	wantPattern := map[string]any{
		"source": []any{"aws.cloudwatch"}, "detail-type": []any{"CloudWatch Alarm State Change"},
		"detail": map[string]any{"alarmName": []any{map[string]any{"prefix": "relayshift-relay-"}}, "state": map[string]any{"value": []any{"ALARM"}}},
	}
	twenty, nine := 20, 900
	if len(rb.Rules) != 1 || !cmp.Equal(rb.Rules[0].RetryPolicy, eventbus.RetryPolicy{MaximumRetryAttempts: &twenty, MaximumEventAgeInSeconds: &nine}) {
		t.Fatalf("rules %+v", rb.Rules)
	}
	if diff := cmp.Diff(wantPattern, rb.Rules[0].Pattern); diff != "" {
		t.Fatalf("pattern (-want +got):\n%s", diff)
	}
	sms, err := s.StateMachines(os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(sms) != 1 || sms[0].Name != "relayshift-deploy" || sms[0].ARN != wantEnv["RELAYSHIFT_STATE_MACHINE_ARN"] || !strings.Contains(string(sms[0].Definition), "${ShiftFunctionArn}") {
		t.Fatalf("state machine %+v", sms)
	}
	if diff := cmp.Diff(map[string]string{
		"ShiftFunctionArn":    "arn:aws:lambda:us-east-1:123456789012:function:relayshift-ShiftFunction",
		"RollbackFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:relayshift-RollbackFunction",
	}, sms[0].Substitutions); diff != "" {
		t.Fatalf("substitutions (-want +got):\n%s", diff)
	}
}

func TestAlarmsResolveDimensionsFromARNs(t *testing.T) {
	s := stack(t, map[string]string{"AlarmPrefix": "lab-", "AlarmErrorRatePercent": "2.5"})
	alarms, err := s.Alarms()
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms) != 1 {
		t.Fatalf("alarms (RuleOnlyAlarm is conditional): %+v", alarms)
	}
	p := alarms[0].Properties
	if p["AlarmName"] != "lab-green-5xx-rate" || p["Threshold"] != 2.5 || p["EvaluationPeriods"] != 2 {
		t.Fatalf("properties %v", p)
	}
	dims := p["Metrics"].([]any)[0].(map[string]any)["MetricStat"].(map[string]any)["Metric"].(map[string]any)["Dimensions"]
	want := []any{
		map[string]any{"Name": "LoadBalancer", "Value": "app/relay/50dc6c495c0c9188"},
		map[string]any{"Name": "TargetGroup", "Value": "targetgroup/relay-green/0123456789abcdef"},
	}
	if diff := cmp.Diff(want, dims); diff != "" {
		t.Fatalf("dimensions (-want +got):\n%s", diff)
	}
}

func TestIntrinsics(t *testing.T) {
	s := stack(t, nil)
	for _, tc := range []struct {
		name string
		in   any
		want any
		err  string
	}{
		{"if without rule", s.T.Resources["ShiftFunction"].Properties["Policies"].([]any)[0].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Resource"],
			"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2/*", ""},
		{"sub literal", s.T.Resources["Dashboard"].Properties["DashboardBody"], `{"x": "${Literal} us-east-1"}`, ""},
		{"ref output", s.T.Outputs["RollbackFunctionName"]["Value"], "relayshift-RollbackFunction", ""},
		{"no value", map[string]any{"a": map[string]any{"Ref": "AWS::NoValue"}, "b": 1}, map[string]any{"b": 1}, ""},
		{"select out of range", map[string]any{"Fn::Select": []any{9, []any{"a"}}}, nil, "out of range"},
		{"import value", map[string]any{"Fn::ImportValue": "x"}, nil, "Fn::ImportValue is not supported by the relayshift lab"},
		{"unknown ref", map[string]any{"Ref": "Nope"}, nil, "no such parameter or resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Resolve(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
	// With a rule, the condition flips.
	r := stack(t, map[string]string{"RuleArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/relay/1/2/3"})
	alarms, _ := r.Alarms()
	if len(alarms) != 2 {
		t.Fatalf("with a rule: %d alarms", len(alarms))
	}
}
