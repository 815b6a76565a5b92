package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// motoSetup is moto holding an ALB (blue 100%) and the deployment state
// machine, with the CLI pointed at it through the recording proxy.
type motoSetup struct {
	h      *harness
	moto   *emulators.Moto
	alb    emulators.ALB
	sm     string
	router *alb.Router
	sfn    *sfn.Client
}

func startMoto(t *testing.T) *motoSetup {
	t.Helper()
	m := emulators.StartMoto(t)
	a := emulators.CreateALB(t, m, "relay")
	sm := emulators.StateMachine(t, m.Direct, "relayshift-deploy")
	h := &harness{t: t, endpoint: m.URL, realTime: true, env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": sm}}
	maps.Copy(h.env, a.Env())
	direct := emulators.AWSConfig(m.Direct)
	return &motoSetup{
		h: h, moto: m, alb: a, sm: sm, sfn: sfn.NewFromConfig(direct),
		router: alb.New(elbv2.NewFromConfig(direct), alb.Listener{ListenerARN: a.ListenerARN, Blue: a.BlueARN, Green: a.GreenARN}),
	}
}

func (s *motoSetup) weights(t *testing.T) deploy.Weights {
	t.Helper()
	w, err := s.router.Weights(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (s *motoSetup) executions(t *testing.T) []string {
	t.Helper()
	out, err := s.sfn.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.sm)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range out.Executions {
		names = append(names, aws.ToString(x.Name)+" "+string(x.Status))
	}
	return names
}

// TestMotoDeployStatusRollbackHistory runs the CLI against moto's Step
// Functions and ELBv2 APIs. moto does not execute the state machine (its
// executions stay RUNNING, and its history is canned), so the traffic
// core's Preflight and Shift run in-process against moto in between, as
// the state machine would run them.
func TestMotoDeployStatusRollbackHistory(t *testing.T) {
	s := startMoto(t)
	h := s.h
	ctx := context.Background()

	// deploy, twice: one execution, the same ARN.
	code, out1, errOut := h.run("deploy", "--version", "v2", "--commit", "abc1234")
	if code != cli.ExitOK || !strings.Contains(out1, "started relay-v2-abc1234 ") {
		t.Fatalf("deploy: exit %d\n%s%s", code, out1, errOut)
	}
	code, out2, _ := h.run("deploy", "--version", "v2", "--commit", "abc1234")
	if code != cli.ExitOK || !strings.Contains(out2, "relay-v2-abc1234 already exists (RUNNING") {
		t.Fatalf("deploy again: exit %d\n%s", code, out2)
	}
	if got := s.executions(t); !slices.Equal(got, []string{"relay-v2-abc1234 RUNNING"}) {
		t.Fatalf("executions: %v", got)
	}
	execARN, _ := stepfn.ExecutionARN(s.sm, "relay-v2-abc1234")

	// The state machine's first steps: Preflight records and tags, the
	// first Shift sends green 10%.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	execs := stepfn.New(s.sfn)
	pf := &deploy.Preflight{Router: s.router, Executions: execs, Service: "relay",
		DefaultStrategy: deploy.Strategy{Preset: deploy.Canary10Percent5Minutes, Steps: []int{10, 100}, BakeSeconds: 300}, Now: time.Now}
	rec, err := pf.Handle(ctx, log, deploy.PreflightInput{ExecutionARN: execARN, Request: deploy.Request{Version: "v2", Commit: "abc1234"}})
	if err != nil {
		t.Fatal(err)
	}
	sh := &deploy.Shift{Router: s.router, Targets: s.router, Executions: execs, Now: time.Now}
	if _, err := sh.Handle(ctx, log, deploy.ShiftInput{ExecutionARN: execARN, Deployment: rec, Step: 0}); err != nil {
		t.Fatal(err)
	}

	// status: the split, the health, the stable colour, the deployment.
	code, out, errOut := h.run("status", "--output", "json")
	if code != cli.ExitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	var st struct {
		Weights deploy.Weights
		Colours []struct {
			Colour  string
			Percent int
			Targets deploy.Health
		}
		Stable     string
		Deployment struct {
			Name, Version, Stable, Candidate, RecordSource, Console string
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st.Weights != (deploy.Weights{Blue: 90, Green: 10}) || st.Stable != "blue" || len(st.Colours) != 2 ||
		st.Colours[1].Percent != 10 || st.Colours[1].Targets.Healthy != 1 {
		t.Errorf("status: %+v", st)
	}
	// moto's canned history holds no Preflight output: the record comes
	// from the listener's tags.
	if d := st.Deployment; d.Name != "relay-v2-abc1234" || d.Version != "v2" || d.Candidate != "green" || d.RecordSource != "tags" ||
		!strings.HasSuffix(d.Console, execARN) {
		t.Errorf("status deployment: %+v", d)
	}
	code, out, _ = h.run("status")
	for _, want := range []string{"blue        90      90%  1/1 healthy", "green       10      10%  1/1 healthy", "stable:     blue", "deployment: relay-v2-abc1234 RUNNING"} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}

	// Another version while this one runs: refused, nothing started.
	starts := func() int {
		n := 0
		for _, a := range s.moto.Actions() {
			if a == "StartExecution" {
				n++
			}
		}
		return n
	}
	before := starts()
	code, out, _ = h.run("deploy", "--version", "v3", "--commit", "def5678", "--wait")
	if code != cli.ExitRefused || !strings.Contains(out, "relay-v2-abc1234") || starts() != before {
		t.Fatalf("second deployment: exit %d, StartExecution calls %d -> %d\n%s", code, before, starts(), out)
	}

	// rollback: stop, then restore, verified.
	h.env["USER"] = "alice"
	code, out, errOut = h.run("rollback", "--reason", "canary looks bad")
	if code != cli.ExitOK {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"stopped execution relay-v2-abc1234 (RolledBack: manual rollback by alice (relayshift rollback): canary looks bad)",
		"traffic restored to blue=1,green=0 (was blue=90,green=10)"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, out)
		}
	}
	if w := s.weights(t); w != (deploy.Weights{Blue: 1}) {
		t.Fatalf("weights after rollback: %s", w)
	}
	if got := s.executions(t); !slices.Equal(got, []string{"relay-v2-abc1234 ABORTED"}) {
		t.Fatalf("executions: %v", got)
	}

	// The CI job re-run: attaches to the ended execution. moto drops
	// StopExecution's error (AWS-FACTS.md), so the execution ends ABORTED
	// with no error: exit 3 here; with AWS's RolledBack it is exit 2
	// (TestManualRollbackFailsTheDeployJob).
	code, out, _ = h.run("deploy", "--version", "v2", "--commit", "abc1234", "--wait", "--poll-interval", "10ms")
	if code != cli.ExitFailed || !strings.Contains(out, "already exists (ABORTED") {
		t.Fatalf("deploy after rollback: exit %d\n%s", code, out)
	}
	if got := s.executions(t); len(got) != 1 {
		t.Fatalf("executions: %v", got)
	}

	// history.
	code, out, _ = h.run("history", "-n", "5", "--output", "json")
	var rows []struct{ Name, Version, Status, Result string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != cli.ExitOK {
		t.Fatalf("history: exit %d, %v\n%s", code, err, out)
	}
	if len(rows) != 1 || rows[0].Name != "relay-v2-abc1234" || rows[0].Version != "v2" || rows[0].Status != "ABORTED" {
		t.Errorf("history: %+v", rows)
	}

	// No deployment running: rollback needs --to.
	code, _, errOut = h.run("rollback")
	if code != cli.ExitUsage || !strings.Contains(errOut, "blue carries all traffic; to go back to green: relayshift rollback --to green") {
		t.Errorf("rollback with nothing running: exit %d\n%s", code, errOut)
	}
	// --to asks first; anything but yes changes nothing.
	h.stdin = "no\n"
	if code, _, errOut = h.run("rollback", "--to", "green"); code != cli.ExitUsage || !strings.Contains(errOut, "not confirmed") {
		t.Errorf("declined: exit %d\n%s", code, errOut)
	}
	if w := s.weights(t); w != (deploy.Weights{Blue: 1}) {
		t.Fatalf("declined, yet weights changed: %s", w)
	}
	h.stdin = ""
	code, out, _ = h.run("rollback", "--to", "green", "--yes")
	if code != cli.ExitOK || !strings.Contains(out, "traffic moved to green: blue=0,green=100 (was blue=1,green=0), verified") {
		t.Fatalf("forced: exit %d\n%s", code, out)
	}
	if w := s.weights(t); w != (deploy.Weights{Green: 100}) {
		t.Fatalf("weights after --to green: %s", w)
	}
	tags, err := s.router.Tags(ctx)
	if err != nil || tags[deploy.TagStable] != "green" || tags[deploy.TagDeployment] != "" {
		t.Errorf("tags after --to green: %v, %v", tags, err)
	}

	// Every call the CLI made is among its declared IAM actions.
	for _, c := range s.moto.Calls() {
		if !slices.Contains(cli.IAMActions(), c.IAMAction()) {
			t.Errorf("the CLI called %s, which cli.IAMActions does not declare", c.IAMAction())
		}
	}
}
