package lab

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/rollback"
)

// A lab started from EphemeralConfig by a program (the demo, the bench)
// listens on ports of its own, serves blue's relaysim targets with the API
// key, and tells the program what the functions read and how to reach its
// AWS APIs.
func TestEphemeralLabForAProgram(t *testing.T) {
	cfg := EphemeralConfig(filepath.Join("..", "..", "template.yaml"), 1.0/60, "sk-ephemeral", 2*time.Millisecond)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l := startLab(t, cfg)
	// Two of them side by side: nothing fixed collides.
	other := startLab(t, cfg)
	if l.Endpoint() == other.Endpoint() || l.Production.URL() == other.Production.URL() {
		t.Fatalf("two ephemeral labs share %s / %s", l.Endpoint(), l.Production.URL())
	}
	if n := len(l.Sims("blue")); n != 2 || len(l.Sims("green")) != 0 {
		t.Fatalf("%d blue relaysim targets and %d green, want 2 and 0", n, len(l.Sims("green")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitHealthy(ctx, "blue"); err != nil {
		t.Fatal(err)
	}

	fc, err := l.FunctionsConfig()
	if err != nil {
		t.Fatal(err)
	}
	sms := l.States.StateMachines()
	if fc.Service != "relay" || len(sms) != 1 || fc.StateMachineARN != sms[0].ARN || fc.ListenerARN != l.Production.ARN() ||
		fc.BlueTargetGroupARN != l.Blue.ARN() || fc.GreenTargetGroupARN != l.Green.ARN() || fc.AlarmPrefix == "" {
		t.Fatalf("functions config %+v; state machines %+v", fc, sms)
	}

	out, err := cloudwatch.NewFromConfig(l.AWSConfig()).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: &fc.AlarmPrefix})
	if err != nil || len(out.MetricAlarms) != 6 {
		t.Fatalf("DescribeAlarms through AWSConfig: %v, %d alarms (want 6)", err, len(out.MetricAlarms))
	}
}

// answering is a rollback function that answers each event with the
// response the event carries in its detail, or fails when it says so.
type answering struct{}

func (answering) Invoke(_ context.Context, _ string, payload []byte) ([]byte, error) {
	var ev struct {
		Detail struct {
			Fail   bool            `json:"fail"`
			Answer json.RawMessage `json:"answer"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	if ev.Detail.Fail {
		return nil, errors.New("invoke failed")
	}
	return ev.Detail.Answer, nil
}

func TestRestoredFindsTheRollbackFunctionsRestore(t *testing.T) {
	const arn = "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:relay-v3-c3"
	p, err := eventbus.Compile(map[string]any{"source": []any{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	bus := eventbus.New(eventbus.Config{Invoker: answering{}})
	defer bus.Close()
	if err := bus.AddRule(eventbus.Rule{Name: "r", Pattern: p, Target: eventbus.Target{Function: "rollback", RetryPolicy: eventbus.RetryPolicy{MaximumRetryAttempts: new(int)}}}); err != nil {
		t.Fatal(err)
	}
	l := &Lab{Bus: bus}
	put := func(i int, detail map[string]any) {
		t.Helper()
		b, err := json.Marshal(map[string]any{"source": "test", "id": strconv.Itoa(i), "detail": detail})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bus.Put(b); err != nil {
			t.Fatal(err)
		}
		bus.Wait() // one delivery at a time: their order is the puts'
	}
	if _, _, ok := l.Restored(arn); ok {
		t.Fatal("a restore found before any delivery")
	}
	for i, d := range []map[string]any{
		{"answer": rollback.Output{Action: rollback.ActionIgnored, Reason: "not a pipeline alarm"}},
		{"answer": rollback.Output{Action: rollback.ActionRestored, ExecutionARN: arn + "-other", Stopped: true}},
		{"answer": rollback.Output{Action: rollback.ActionNothing, ExecutionARN: arn}},
		{"fail": true},
		{"answer": "not an output"},
		{"answer": rollback.Output{Action: rollback.ActionRestored, ExecutionARN: arn, Stopped: true, Changed: true}},
		{"answer": rollback.Output{Action: rollback.ActionRestored, ExecutionARN: arn}},
	} {
		put(i, d)
	}
	if n := len(bus.Deliveries()); n != 7 {
		t.Fatalf("%d deliveries, want 7", n)
	}
	d, out, ok := l.Restored(arn)
	if !ok || d.EventID != "5" || !out.Stopped || !out.Changed || out.ExecutionARN != arn {
		t.Fatalf("Restored: %v, event %s, output %+v; want the first restore of %s (event 5)", ok, d.EventID, out, arn)
	}
	if _, _, ok := l.Restored(arn + "-unknown"); ok {
		t.Fatal("a restore found for an execution nobody restored")
	}
}
