package functions_test

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/functions"
)

const (
	testListener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	testBlue     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	testGreen    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/2453ed029918f21f"
	testSM       = "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy"
)

// lookup is in candidate_test.go.

func baseEnv() map[string]string {
	return map[string]string{
		"RELAYSHIFT_LISTENER_ARN": testListener, "RELAYSHIFT_BLUE_TARGET_GROUP_ARN": testBlue,
		"RELAYSHIFT_GREEN_TARGET_GROUP_ARN": testGreen, "RELAYSHIFT_STATE_MACHINE_ARN": testSM,
		"RELAYSHIFT_ALARM_PREFIX": "relay-pipeline-",
	}
}

func TestJudgementConfig(t *testing.T) {
	c, err := functions.LoadConfig(lookup(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(deploy.DefaultPolicy(), c.Policy); diff != "" {
		t.Fatalf("default policy (-want +got):\n%s", diff)
	}
	if c.AlarmPrefix != "relay-pipeline-" {
		t.Fatalf("alarm prefix %q", c.AlarmPrefix)
	}

	env := baseEnv()
	for k, v := range map[string]string{
		"RELAYSHIFT_MAX_ERROR_RATE": "2.5", "RELAYSHIFT_ERROR_RATE_MARGIN": "0.5", "RELAYSHIFT_MAX_P99_MS": "12000",
		"RELAYSHIFT_P99_FACTOR": "2", "RELAYSHIFT_MIN_REQUESTS": "200", "RELAYSHIFT_MAX_HOLD_SECONDS": "1800",
		"RELAYSHIFT_ON_NO_DATA": "continue",
	} {
		env[k] = v
	}
	c, err = functions.LoadConfig(lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	want := deploy.Policy{MaxErrorRatePercent: 2.5, ErrorRateMarginPoints: 0.5, MaxP99Ms: 12000, P99Factor: 2,
		MinRequests: 200, MaxHoldSeconds: 1800, OnNoData: "continue"}
	if diff := cmp.Diff(want, c.Policy); diff != "" {
		t.Fatalf("policy (-want +got):\n%s", diff)
	}
}

func TestJudgementConfigNamesEveryBadVariable(t *testing.T) {
	env := baseEnv()
	bad := map[string]string{
		"RELAYSHIFT_MAX_ERROR_RATE": "lots", "RELAYSHIFT_ERROR_RATE_MARGIN": "-1", "RELAYSHIFT_MAX_P99_MS": "NaN",
		"RELAYSHIFT_P99_FACTOR": "0.5", "RELAYSHIFT_MIN_REQUESTS": "0", "RELAYSHIFT_MAX_HOLD_SECONDS": "1.5",
		"RELAYSHIFT_ON_NO_DATA": "promote", "RELAYSHIFT_ALARM_PREFIX": strings.Repeat("x", 256),
	}
	for k, v := range bad {
		env[k] = v
	}
	_, err := functions.LoadConfig(lookup(env))
	if deploy.CodeOf(err) != deploy.InvalidConfig {
		t.Fatalf("err = %v, want InvalidConfig", err)
	}
	for k := range bad {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("the error does not name %s: %v", k, err)
		}
	}
}

func TestTargetGroupDimension(t *testing.T) {
	if got := functions.TargetGroupDimension(testBlue); got != "targetgroup/relay-blue/73e2d6bc24d8a067" {
		t.Errorf("got %q", got)
	}
	if got := functions.TargetGroupDimension("arn:aws:s3:::bucket"); got != "" {
		t.Errorf("got %q for a non-target-group ARN", got)
	}
	c, _ := functions.LoadConfig(lookup(baseEnv()))
	if got := c.LoadBalancerDimension(); got != "app/relay/50dc6c495c0c9188" {
		t.Errorf("load balancer dimension %q", got)
	}
}

func TestJudgementBuildersNeedTheirVariables(t *testing.T) {
	for _, tc := range []struct {
		fn      string
		missing string
	}{
		{"evaluate", "RELAYSHIFT_ALARM_PREFIX"},
		{"rollback", "RELAYSHIFT_ALARM_PREFIX"},
		{"rollback", "RELAYSHIFT_STATE_MACHINE_ARN"},
	} {
		env := baseEnv()
		delete(env, tc.missing)
		c, err := functions.LoadConfig(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := functions.Lookup(tc.fn)
		_, err = f.Build(c, emulators.AWSConfig("http://127.0.0.1:1"), functions.NewLogger(io.Discard, nil))
		if deploy.CodeOf(err) != deploy.InvalidConfig || !strings.Contains(err.Error(), tc.missing) {
			t.Errorf("%s without %s: %v", tc.fn, tc.missing, err)
		}
	}
	for _, fn := range []string{"evaluate", "rollback"} {
		c, _ := functions.LoadConfig(lookup(baseEnv()))
		f, ok := functions.Lookup(fn)
		if !ok {
			t.Fatalf("%s is not registered", fn)
		}
		if _, err := f.Build(c, emulators.AWSConfig("http://127.0.0.1:1"), functions.NewLogger(io.Discard, nil)); err != nil {
			t.Errorf("%s: %v", fn, err)
		}
	}
}
