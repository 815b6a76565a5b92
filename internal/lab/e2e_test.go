package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/rollback"
)

const e2eKey = "sk-relayshift-e2e-1618033988"

// deployCLI runs `relayshift deploy --wait` in process against the lab, as
// CI would with the exports `relayshift lab` prints.
func deployCLI(t *testing.T, l *lab.Lab, args ...string) (int, string) {
	t.Helper()
	return runCLI(t, l, append([]string{"deploy", "--wait", "--progress", "plain", "--poll-interval", "200ms", "--timeout", "2m"}, args...)...)
}

// runCLI runs relayshift in process against the lab.
func runCLI(t *testing.T, l *lab.Lab, args ...string) (int, string) {
	t.Helper()
	env := l.Env()
	var stdout, stderr bytes.Buffer
	cenv := &cli.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Now:    time.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		},
		AWSConfig: func(context.Context, string, string) (aws.Config, error) {
			return aws.Config{Region: env["AWS_REGION"], Credentials: credentials.NewStaticCredentialsProvider("ci", "ci", ""),
				BaseEndpoint: aws.String(l.Endpoint())}, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := cli.Main(ctx, cenv, args)
	return code, stdout.String() + stderr.String()
}

// recent returns the outcomes of requests started after from.
func recent(run *loadgen.Run, from time.Time) []loadgen.Outcome {
	return loadgen.Between(run.Outcomes(), from, time.Now().Add(time.Hour))
}

// TestEndToEndPromoteThenAlarmRollback is the story the lab exists for:
// the CLI deploys a healthy relaysim version through the real state
// machine to promotion; then a faulty one, whose errors only production
// traffic sees, is caught at its canary step by the template's alarm, and
// the EventBridge-shaped event brings the rollback function, which stops
// the execution and puts traffic back on the stable colour — verified by
// the colour header of real requests.
func TestEndToEndPromoteThenAlarmRollback(t *testing.T) {
	cfg := lab.DefaultConfig()
	cfg.Template = filepath.Join(emulators.ModuleRoot(t), "template.yaml")
	cfg.Endpoint, cfg.LoadBalancer.Production, cfg.LoadBalancer.Test = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.LoadBalancer.HealthCheck.Interval = lab.Duration(200 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.Timeout = lab.Duration(150 * time.Millisecond)
	cfg.LoadBalancer.DeregistrationDelay = lab.Duration(time.Second)
	cfg.APIKey = e2eKey
	cfg.Blue = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 2, Version: "v1"}}
	cfg.Green = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 2, Version: "v2"}}
	// A 2-minute bake lasts 2 s; Evaluate needs 20 candidate requests.
	cfg.Parameters = map[string]string{"EvaluateMinRequests": "20"}
	l, err := lab.Start(context.Background(), cfg, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	waitHealthy(t, l)

	// Production traffic: 100 chat completions a second, bounded.
	body := []byte(`{"model":"sim-small","messages":[{"role":"user","content":"ping"}],"max_tokens":4}`)
	traffic, err := loadgen.Start(context.Background(), loadgen.Config{
		URL: l.Production.URL() + "/v1/chat/completions",
		Request: loadgen.Request{Method: http.MethodPost, Body: body,
			Header: http.Header{"Authorization": {"Bearer " + e2eKey}, "Content-Type": {"application/json"}}},
		Rate: 100, Concurrency: 32, MaxRequests: 20000, MaxDuration: 3 * time.Minute, Timeout: 5 * time.Second,
		ColourHeader: loadbalancer.DefaultColourHeader,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traffic.Stop)

	// 1. A healthy v2 on green, promoted step by step.
	start := time.Now()
	code, out := deployCLI(t, l, "--version", "v2", "--commit", "aaaa1111", "--strategy", `{"steps":[10,100],"bakeSeconds":120}`, "--post-promotion-bake", "2m")
	t.Logf("deploy v2 (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if code != cli.ExitOK {
		t.Fatalf("deploy v2: exit %d, want %d (promoted)", code, cli.ExitOK)
	}
	promoted := time.Now()
	time.Sleep(500 * time.Millisecond)
	assertAllOn(t, recent(traffic, promoted), "green", "after the promotion")

	// 2. v3 on blue (now the candidate), released by "CI": half its chat
	// completions fail, except those carrying the test route's header, so
	// it passes its warm-up and fails only under production traffic.
	if err := l.Release("blue", lab.RelaysimConfig{Instances: 2, Version: "v3",
		Faults: map[string]any{"errorRate": 0.5, "exemptHeader": l.TestHeader()}}); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, l)
	// The bake (15 min: 15 s here) outlasts the alarm's two 1-minute
	// periods, so the alarm path acts before Evaluate would.
	start = time.Now()
	code, out = deployCLI(t, l, "--version", "v3", "--commit", "bbbb2222", "--strategy", `{"steps":[10,100],"bakeSeconds":900}`)
	t.Logf("deploy v3 (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if code != cli.ExitRolledBack {
		t.Fatalf("deploy v3: exit %d, want %d (rolled back)", code, cli.ExitRolledBack)
	}

	// The rollback came through the alarm path: the blue 5xx-rate alarm's
	// state change matched the template's rule and reached the rollback
	// function, which stopped the execution and restored the weights.
	var d *struct {
		at, done time.Time
		out      rollback.Output
		event    string
	}
	for _, del := range l.Bus.Deliveries() {
		var o rollback.Output
		if del.Err != "" || json.Unmarshal(del.Response, &o) != nil || o.Action != rollback.ActionRestored {
			continue
		}
		d = &struct {
			at, done time.Time
			out      rollback.Output
			event    string
		}{del.Received, del.Delivered, o, string(del.Event)}
	}
	if d == nil {
		t.Fatalf("no alarm event restored traffic; deliveries: %+v", l.Bus.Deliveries())
	}
	if !d.out.Stopped || d.out.Stable != string(deploy.Green) || d.out.After != (deploy.Weights{Green: 1}) && d.out.After != (deploy.Weights{Green: 100}) {
		t.Fatalf("rollback output %+v", d.out)
	}
	if !strings.Contains(d.event, `"detail-type":"CloudWatch Alarm State Change"`) || !strings.Contains(d.event, "relayshift-relay-blue-5xx-rate") {
		t.Fatalf("event %s", d.event)
	}
	x, err := sfn.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", ""), BaseEndpoint: aws.String(l.Endpoint())}).
		DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(d.out.ExecutionARN)})
	if err != nil || x.Status != "ABORTED" || aws.ToString(x.Error) != string(deploy.RolledBack) {
		t.Fatalf("execution %+v %v", x, err)
	}

	// status and history tell the same story.
	if code, out := runCLI(t, l, "status"); code != cli.ExitOK || !strings.Contains(out, "green") {
		t.Fatalf("status: exit %d\n%s", code, out)
	} else {
		t.Logf("relayshift status:\n%s", out)
	}
	if code, out := runCLI(t, l, "history"); code != cli.ExitOK || !strings.Contains(out, "v2") || !strings.Contains(out, "v3") {
		t.Fatalf("history: exit %d\n%s", code, out)
	} else {
		t.Logf("relayshift history:\n%s", out)
	}

	// Real requests are back on the stable colour.
	time.Sleep(500 * time.Millisecond)
	after := recent(traffic, d.done.Add(100*time.Millisecond))
	assertAllOn(t, after, "green", "after the rollback")
	traffic.Stop()

	var ev alarmevent.Event
	if err := json.Unmarshal([]byte(d.event), &ev); err != nil {
		t.Fatal(err)
	}
	fired := ev.Detail.State.Timestamp.Time
	firstFaulty := d.done
	for _, o := range loadgen.Between(traffic.Outcomes(), start, d.done) {
		if o.Colour == "blue" && o.At.Before(firstFaulty) {
			firstFaulty = o.At
		}
	}
	t.Logf("summary: %s", summarise(traffic.Outcomes()))
	t.Logf("faulty release: %s, between the deploy start and the restore", summarise(loadgen.Between(traffic.Outcomes(), start, d.done)))
	t.Logf("first production request on v3 -> alarm into ALARM: %s; -> event delivered to the rollback function: %s; -> weights restored and verified: %s (total %s)",
		fired.Sub(firstFaulty).Round(time.Millisecond), d.at.Sub(fired).Round(time.Millisecond), d.done.Sub(d.at).Round(time.Millisecond),
		d.done.Sub(firstFaulty).Round(time.Millisecond))
}

func waitHealthy(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

func assertAllOn(t *testing.T, outs []loadgen.Outcome, colour, when string) {
	t.Helper()
	if len(outs) < 10 {
		t.Fatalf("%s: only %d requests to judge", when, len(outs))
	}
	for _, o := range outs {
		if o.Colour != colour || o.Status != http.StatusOK {
			t.Fatalf("%s: a request at %s was served by %q with status %d, want %s and 200 (%s)", when,
				o.At.Format("15:04:05.000"), o.Colour, o.Status, colour, summarise(outs))
		}
	}
}

func summarise(outs []loadgen.Outcome) string {
	var parts []string
	for colour, s := range loadgen.ByColour(outs) {
		if colour == "" {
			colour = "none"
		}
		parts = append(parts, fmt.Sprintf("%s: %d requests, %d failed", colour, s.Requests, s.Failures))
	}
	return strings.Join(parts, "; ")
}
