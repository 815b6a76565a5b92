package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/relayshift/relayshift/internal/emulators"
)

// The functions can run as the real bootstraps through a Lambda invoke
// endpoint: here the rollback bootstrap under aws-lambda-rie, reached by
// the template's EventBridge rule when an alarm is set to ALARM through
// the CloudWatch API.
func TestFunctionsThroughAWSLambdaRIE(t *testing.T) {
	bootstrap := emulators.BuildFunction(t, t.TempDir(), "rollback")
	port := emulators.FreePort(t)
	rieURL := fmt.Sprintf("http://127.0.0.1:%d", port)

	cfg := testConfig(t, nil, nil)
	cfg.Template = filepath.Join("..", "..", "template.yaml")
	cfg.Blue = ColourConfig{Relaysim: &RelaysimConfig{Version: "v1"}}
	cfg.Green = ColourConfig{Relaysim: &RelaysimConfig{Version: "v2"}}
	cfg.Functions = FunctionsConfig{Mode: FunctionsEndpoint, Endpoints: map[string]string{"RollbackFunction": rieURL}}
	l := startLab(t, cfg)

	// The bootstrap gets the environment the template gives the function,
	// pointed at the lab.
	name, _ := l.FunctionName("RollbackFunction")
	fn := emulators.StartFunctionOn(t, port, name, bootstrap, l.FunctionEnv(name))

	cw := cloudwatch.NewFromConfig(l.awsConfig())
	if _, err := cw.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("relayshift-relay-green-5xx-rate"),
		StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("testing the alarm path")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event delivered to the bootstrap", func() bool { return len(l.Bus.Deliveries()) > 0 })
	d := l.Bus.Deliveries()[0]
	if d.Err != "" || !strings.Contains(string(d.Response), `"action":"nothing-to-roll-back"`) {
		t.Fatalf("delivery %+v (%s)\nlogs:\n%s", d, d.Response, fn.Logs())
	}
	if !strings.Contains(fn.Logs(), `"function":"rollback"`) {
		t.Fatalf("the bootstrap logged nothing:\n%s", fn.Logs())
	}
}
