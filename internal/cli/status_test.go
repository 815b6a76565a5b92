package cli_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
)

// fakeAndMoto is the fake Step Functions (scripted executions, real
// histories) and moto's ELBv2 (the listener and target groups) behind one
// endpoint.
func fakeAndMoto(t *testing.T) (*harness, emulators.ALB, *alb.Router) {
	t.Helper()
	h := newHarness(t)
	m := emulators.StartMoto(t)
	a := emulators.CreateALB(t, m, "relay")
	h.endpoint = route(t, h.sfn.URL, m.URL)
	maps.Copy(h.env, a.Env())
	r := alb.New(elbv2.NewFromConfig(emulators.AWSConfig(m.Direct)), alb.Listener{ListenerARN: a.ListenerARN, Blue: a.BlueARN, Green: a.GreenARN})
	return h, a, r
}

// TestManualRollbackFailsTheDeployJob: a person rolls back a running
// deployment with relayshift rollback; the CI job following it (or re-run
// later) goes red with exit 2 and the person's reason.
func TestManualRollbackFailsTheDeployJob(t *testing.T) {
	h, a, router := fakeAndMoto(t)
	ctx := context.Background()
	first := slicesDelete(deployArgs(vRunning), "--wait")
	if code, out, errOut := h.run(first...); code != cli.ExitOK {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	// The execution has passed Preflight and shifted 10% (the scenario's
	// history says so; moto's listener is made to match).
	h.clock.Advance(45 * time.Second)
	if _, err := router.SetWeights(ctx, deploy.Weights{Blue: 90, Green: 10}); err != nil {
		t.Fatal(err)
	}

	code, out, _ := h.run("status")
	out = strings.ReplaceAll(out, a.ListenerARN, "<listener-arn>")
	if code != cli.ExitOK {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	golden(t, "status/running.golden", out)

	h.env["GITHUB_ACTOR"] = "alice"
	code, out, errOut := h.run("rollback", "--reason", "p99 latency doubled on green")
	if code != cli.ExitOK {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	golden(t, "rollback/running.golden", out)
	if w, _ := router.Weights(ctx); w != (deploy.Weights{Blue: 100}) {
		t.Fatalf("weights after rollback: %s", w)
	}
	x := h.sfn.Executions()[0]
	if x.Status != "ABORTED" || x.Error != "RolledBack" || !strings.Contains(x.Cause, "p99 latency doubled on green") {
		t.Fatalf("execution after rollback: %s %s %q", x.Status, x.Error, x.Cause)
	}

	h.env["CI"], h.env["GITHUB_ACTIONS"] = "true", "true"
	code, out, _ = h.run(deployArgs(vRunning)...)
	if code != cli.ExitRolledBack {
		t.Fatalf("deploy after the manual rollback: exit %d, want 2\n%s", code, out)
	}
	golden(t, "progress/rollback-manual.ci-log.golden", out)

	code, out, _ = h.run("history")
	if code != cli.ExitOK {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
	golden(t, "history/after-manual-rollback.golden", out)
}

func TestStatusWithoutDeployment(t *testing.T) {
	h, a, router := fakeAndMoto(t)
	// An earlier deployment was promoted; the listener is on green.
	if code, out, _ := h.run(deployArgs(vPromoted)...); code != cli.ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	if _, err := router.SetWeights(context.Background(), deploy.Weights{Green: 100}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	code, out, _ := h.run("status", "--output", "json")
	var v struct {
		Stable         string
		Deployment     *struct{}
		LastDeployment struct{ Name, Status, Result string }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != cli.ExitOK {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if v.Stable != "green" || v.Deployment != nil || v.LastDeployment.Name != "relay-v2.4.0-9f1c2ab" || v.LastDeployment.Result != "promoted" {
		t.Errorf("status: %+v", v)
	}

	// Split with nothing running: status says how to fix it.
	if _, err := router.SetWeights(context.Background(), deploy.Weights{Blue: 50, Green: 50}); err != nil {
		t.Fatal(err)
	}
	_, out, _ = h.run("status")
	out = strings.ReplaceAll(out, a.ListenerARN, "<listener-arn>")
	golden(t, "status/split-nothing-running.golden", out)
}

func TestStatusAndRollbackNeedTheListener(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"status", "rollback", "history"} {
		code, _, errOut := h.run(cmd)
		if cmd == "history" {
			if code != cli.ExitOK {
				t.Errorf("history needs only the state machine: exit %d\n%s", code, errOut)
			}
			continue
		}
		if code != cli.ExitUsage {
			t.Errorf("%s without a listener: exit %d, want 1", cmd, code)
		}
		for _, want := range []string{"RELAYSHIFT_LISTENER_ARN", "--stack NAME (output ListenerArn)", "RELAYSHIFT_BLUE_TARGET_GROUP_ARN"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: error does not mention %s:\n%s", cmd, want, errOut)
			}
		}
	}
}

// slicesDelete returns args without the value v.
func slicesDelete(args []string, v string) []string {
	var out []string
	for _, a := range args {
		if a != v {
			out = append(out, a)
		}
	}
	return out
}

// TestRollbackBeforePreflight: a deployment that has not recorded itself
// yet has moved no traffic; rollback stops it and leaves the weights.
func TestRollbackBeforePreflight(t *testing.T) {
	h, _, router := fakeAndMoto(t)
	// v4.0.0 has no script: the execution runs, its history holds only
	// ExecutionStarted.
	if code, out, _ := h.run("deploy", "--version", "v4.0.0"); code != cli.ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	code, out, _ := h.run("status")
	if code != cli.ExitOK || !strings.Contains(out, "not yet past Preflight") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out, errOut := h.run("rollback", "--reason", "wrong image", "--output", "json")
	if code != cli.ExitOK {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	var v struct {
		Action  string
		Weights deploy.Weights
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Action != "stopped" || v.Weights != (deploy.Weights{Blue: 1}) {
		t.Errorf("rollback: %+v, %v\n%s", v, err, out)
	}
	if x := h.sfn.Executions()[0]; x.Status != "ABORTED" || x.Error != "RolledBack" {
		t.Errorf("execution %s %s", x.Status, x.Error)
	}
	if w, _ := router.Weights(context.Background()); w != (deploy.Weights{Blue: 1}) {
		t.Errorf("weights changed: %s", w)
	}
}
