package statemachine

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// t0 is the virtual clock's start in every test.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const testRole = "arn:aws:iam::123456789012:role/relayshift-lab"

// fakeFunction is a Lambda handler that answers from a script: each call
// takes the next outcome, the last one repeats. It records the payloads it
// received.
type fakeFunction struct {
	mu       sync.Mutex
	outcomes []outcome
	calls    []string
}

type outcome struct {
	out     string        // JSON output
	errType string        // a function error of this type (messages.InvokeResponse_Error)
	err     error         // any other error returned by the handler
	block   chan struct{} // wait for this before answering
	started chan struct{} // closed when the call starts
}

func ok(out string) outcome             { return outcome{out: out} }
func fails(errType string) outcome      { return outcome{errType: errType} }
func script(o ...outcome) *fakeFunction { return &fakeFunction{outcomes: o} }

func (f *fakeFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, string(payload))
	o := f.outcomes[0]
	if len(f.outcomes) > 1 {
		f.outcomes = f.outcomes[1:]
	}
	f.mu.Unlock()
	if o.started != nil {
		close(o.started)
	}
	if o.block != nil {
		select {
		case <-o.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch {
	case o.errType != "":
		return nil, messages.InvokeResponse_Error{Type: o.errType, Message: o.errType + " from the fake"}
	case o.err != nil:
		return nil, o.err
	}
	return []byte(o.out), nil
}

func (f *fakeFunction) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// inProcess gives every handler the same timeout.
func inProcess(handlers map[string]Handler, timeout time.Duration) map[string]InProcessFunction {
	m := map[string]InProcessFunction{}
	for name, h := range handlers {
		m[name] = InProcessFunction{Handler: h, Timeout: timeout}
	}
	return m
}

// lab is a Service with a virtual clock and in-process fake functions.
type lab struct {
	svc   *Service
	clock *VirtualClock
}

func newLab(t *testing.T, handlers map[string]Handler, opts ...func(*Options)) *lab {
	t.Helper()
	clock := NewVirtualClock(t0)
	o := Options{
		Invoker: NewInProcess(inProcess(handlers, 0), "us-east-1", "123456789012"),
		Clock:   clock,
	}
	for _, f := range opts {
		f(&o)
	}
	svc, err := NewService(o)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	t.Cleanup(svc.Close)
	return &lab{svc: svc, clock: clock}
}

// run loads def, starts one execution with input and waits for its end.
func (l *lab) run(t *testing.T, def, input string) (Execution, []Event) {
	t.Helper()
	d, err := Load([]byte(def), testSubstitutions)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sm, err := l.svc.CreateStateMachine("test", testRole, d)
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	x, err := l.svc.StartExecution(sm.ARN, "", input)
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	return l.wait(t, x.ARN)
}

func (l *lab) wait(t *testing.T, arn string) (Execution, []Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := l.svc.Wait(ctx, arn)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	h, err := l.svc.History(arn)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	return x, h
}

var testSubstitutions = map[string]string{
	"PreflightFunctionArn":   LambdaARN("us-east-1", "123456789012", "preflight"),
	"ReleaseFunctionArn":     LambdaARN("us-east-1", "123456789012", "release"),
	"WarmUpFunctionArn":      LambdaARN("us-east-1", "123456789012", "warmup"),
	"HealthCheckFunctionArn": LambdaARN("us-east-1", "123456789012", "healthcheck"),
	"ShiftFunctionArn":       LambdaARN("us-east-1", "123456789012", "shift"),
	"EvaluateFunctionArn":    LambdaARN("us-east-1", "123456789012", "evaluate"),
	"FinalizeFunctionArn":    LambdaARN("us-east-1", "123456789012", "finalize"),
	"RollbackFunctionArn":    LambdaARN("us-east-1", "123456789012", "rollback"),
}

// entered lists the states an execution entered, in order.
func entered(h []Event) []string {
	var out []string
	for _, e := range h {
		if e.StateEntered != nil {
			out = append(out, e.StateEntered.Name)
		}
	}
	return out
}

// eventTypes lists the event types.
func eventTypes(h []Event) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Type)
	}
	return out
}

// exitedOutput returns the output of the last StateExited of state name.
func exitedOutput(t *testing.T, h []Event, name string) any {
	t.Helper()
	for i := len(h) - 1; i >= 0; i-- {
		if d := h[i].StateExited; d != nil && d.Name == name {
			return mustJSON(t, d.Output)
		}
	}
	t.Fatalf("state %s never exited", name)
	return nil
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	return v
}

// taskDef wraps one Task state T (its fields after Type and Resource) and
// more states into a definition.
func taskDef(fields string, more ...string) string {
	s := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",` + fields + `}`
	for _, m := range more {
		s += "," + m
	}
	return s + "}}"
}

var errBoom = errors.New("boom")
