package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	rie := emulators.Tool(t, "aws-lambda-rie")
	bootstrap := emulators.BuildFunction(t, t.TempDir(), "rollback")
	port, apiPort := emulators.FreePort(t), emulators.FreePort(t)
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
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME="+name, "AWS_LAMBDA_FUNCTION_TIMEOUT=60")
	for k, v := range l.FunctionEnv(name) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	waitFor(t, "aws-lambda-rie listening", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	cw := cloudwatch.NewFromConfig(l.awsConfig())
	if _, err := cw.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("relayshift-relay-green-5xx-rate"),
		StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("testing the alarm path")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event delivered to the bootstrap", func() bool { return len(l.Bus.Deliveries()) > 0 })
	d := l.Bus.Deliveries()[0]
	if d.Err != "" || !strings.Contains(string(d.Response), `"action":"nothing-to-roll-back"`) {
		t.Fatalf("delivery %+v (%s)\nlogs:\n%s", d, d.Response, logs.String())
	}
	if !strings.Contains(logs.String(), `"function":"rollback"`) {
		t.Fatalf("the bootstrap logged nothing:\n%s", logs.String())
	}
}
