package statemachine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/scenario"
)

// The differential test runs the project's real definition
// (infra/statemachine/deploy.asl.json) through the scenario table of the
// definition tier (infra/statemachine/scenarios.json) on the lab's engine,
// judges the lab's traces with the table's own Check, and compares them
// with aws-local-stepfunctions' traces of the same scenarios.
//
// One difference is expected and asserted rather than hidden: with the
// lambda:invoke integration, AWS reports a function error's cause as the
// function's error document ({"errorMessage": ..., "errorType": ...}), and
// the lab does the same; aws-local-stepfunctions (and so the table) uses
// the bare message. The test maps the lab's causes through exactly that
// document before comparing.

const (
	definitionFile = "infra/statemachine/deploy.asl.json"
	scenariosFile  = "infra/statemachine/scenarios.json"
	runnerFile     = "infra/statemachine/run-scenarios.mjs"
	fakeARNPrefix  = "arn:aws:lambda:eu-west-1:123456789012:function:"
)

// deploySubstitutions are the definition's DefinitionSubstitutions as the
// scenario runner gives them: a fake function ARN per template logical id.
func deploySubstitutions(table *scenario.Table) map[string]string {
	subs := map[string]string{}
	for _, id := range table.Tasks {
		subs[strings.TrimSuffix(id, "Function")+"FunctionArn"] = fakeARNPrefix + id
	}
	return subs
}

// tableInvoker answers each Task state's calls from a scenario's script,
// as the function would on AWS: a throw is a function error whose
// errorType is the scripted error.
type tableInvoker struct {
	mu    sync.Mutex
	calls map[string][]scenario.ResolvedCall
	made  map[string]int
}

func (inv *tableInvoker) Invoke(ctx context.Context, _ string, _ []byte) ([]byte, error) {
	task, ok := TaskFromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("no task in the invocation context")
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	i := inv.made[task.StateName]
	inv.made[task.StateName]++
	script := inv.calls[task.StateName]
	if i >= len(script) {
		return nil, &FunctionError{Type: "ScenarioUnscripted", Message: fmt.Sprintf("call %d of %s is not scripted", i+1, task.StateName)}
	}
	c := script[i]
	if c.Throws != nil {
		doc, _ := json.Marshal(map[string]string{"errorMessage": c.Throws.Cause, "errorType": c.Throws.Error})
		return nil, &FunctionError{Type: c.Throws.Error, Message: c.Throws.Cause, Payload: doc}
	}
	return c.Returns, nil
}

// labTrace runs one scenario on the engine and builds its trace from the
// execution's history, as GetExecutionHistory returns it.
func labTrace(t *testing.T, def *Definition, execName string, sc scenario.ResolvedScenario) (scenario.Trace, []Event) {
	t.Helper()
	inv := &tableInvoker{calls: sc.Tasks, made: map[string]int{}}
	clock := NewVirtualClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	svc, err := NewService(Options{Invoker: inv, Clock: clock, Region: "eu-west-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sm, err := svc.CreateStateMachine("relayshift-deploy", testRole, def)
	if err != nil {
		t.Fatal(err)
	}
	x, err := svc.StartExecution(sm.ARN, execName, string(sc.Input))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if x, err = svc.Wait(ctx, x.ARN); err != nil {
		t.Fatal(err)
	}
	h, err := svc.History(x.ARN)
	if err != nil {
		t.Fatal(err)
	}
	tr := scenario.Trace{Name: sc.Name, Status: x.Status, Error: x.Error, Cause: x.Cause, Output: json.RawMessage("null"),
		States: []string{}, Calls: []scenario.TraceCall{}, Waits: []scenario.Wait{}}
	if x.Output != "" {
		tr.Output = json.RawMessage(x.Output)
	}
	var state string
	var waitFrom time.Time
	for _, e := range h {
		switch {
		case e.StateEntered != nil:
			state = e.StateEntered.Name
			tr.States = append(tr.States, state)
			waitFrom = e.Timestamp
		case e.Type == "WaitStateExited":
			// The virtual clock makes a Wait last exactly its duration.
			tr.Waits = append(tr.Waits, scenario.Wait{State: state, Seconds: e.Timestamp.Sub(waitFrom).Seconds()})
		case e.TaskScheduled != nil:
			var p struct {
				FunctionName string
				Payload      json.RawMessage
			}
			if err := json.Unmarshal([]byte(e.TaskScheduled.Parameters), &p); err != nil {
				t.Fatalf("TaskScheduled parameters: %v", err)
			}
			tr.Calls = append(tr.Calls, scenario.TraceCall{State: state, Function: p.FunctionName, Payload: p.Payload})
		}
	}
	return tr, h
}

// asLocalStepfunctions rewrites the lab's trace with causes as
// aws-local-stepfunctions reports them: a Lambda error document becomes its
// errorMessage. It fails the test when a cause that must be a document is
// not one.
func asLocalStepfunctions(t *testing.T, tr scenario.Trace) scenario.Trace {
	t.Helper()
	unwrap := func(cause string) string {
		var doc struct {
			ErrorMessage *string `json:"errorMessage"`
			ErrorType    string  `json:"errorType"`
		}
		if json.Unmarshal([]byte(cause), &doc) == nil && doc.ErrorMessage != nil && doc.ErrorType != "" {
			return *doc.ErrorMessage
		}
		return cause
	}
	out := tr
	out.Cause = unwrap(tr.Cause)
	out.Calls = nil
	for _, c := range tr.Calls {
		var p map[string]any
		if json.Unmarshal(c.Payload, &p) == nil {
			if e, ok := p["error"].(map[string]any); ok {
				cause, _ := e["Cause"].(string)
				if _, isTask := e["Error"].(string); isTask {
					e["Cause"] = unwrap(cause)
				}
				b, _ := json.Marshal(p)
				c.Payload = b
			}
		}
		out.Calls = append(out.Calls, c)
	}
	return out
}

func TestDifferentialRealDefinition(t *testing.T) {
	root := emulators.ModuleRoot(t)
	table, err := scenario.Load(filepath.Join(root, scenariosFile))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, definitionFile))
	if err != nil {
		t.Fatal(err)
	}
	subs := deploySubstitutions(table)
	def, err := Load(text, subs)
	if err != nil {
		t.Fatalf("the lab refuses the real definition: %v", err)
	}
	resolved := table.Resolve(subs)
	reference := localStepfunctionsTraces(t, root, resolved)
	functionID := func(arn string) string { return strings.TrimPrefix(arn, fakeARNPrefix) }
	for i, sc := range table.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			lab, _ := labTrace(t, def, table.Execution["Name"], resolved.Scenarios[i])
			mapped := asLocalStepfunctions(t, lab)
			for _, d := range table.Check(sc, mapped, functionID) {
				t.Error(d)
			}
			ref := reference[sc.Name]
			if diff := cmp.Diff(ref.States, lab.States); diff != "" {
				t.Errorf("states entered, aws-local-stepfunctions (-) vs the lab (+):\n%s", diff)
			}
			if ref.Status != lab.Status || ref.Error != lab.Error || ref.Cause != mapped.Cause {
				t.Errorf("end: aws-local-stepfunctions %s %s %q, the lab %s %s %q", ref.Status, ref.Error, ref.Cause, lab.Status, lab.Error, mapped.Cause)
			}
			if !slices.Equal(ref.Waits, lab.Waits) {
				t.Errorf("waits: aws-local-stepfunctions %v, the lab %v", ref.Waits, lab.Waits)
			}
			if len(ref.Calls) != len(mapped.Calls) {
				t.Fatalf("%d calls by aws-local-stepfunctions, %d by the lab", len(ref.Calls), len(mapped.Calls))
			}
			for j := range ref.Calls {
				r, l := ref.Calls[j], mapped.Calls[j]
				if r.State != l.State || r.Function != l.Function || !jsonSame(r.Payload, l.Payload) {
					t.Errorf("call %d: aws-local-stepfunctions %s %s %s, the lab %s %s %s", j+1, r.State, r.Function, r.Payload, l.State, l.Function, l.Payload)
				}
			}
			if lab.Status == StatusSucceeded && !jsonSame(ref.Output, lab.Output) {
				t.Errorf("output: aws-local-stepfunctions %s, the lab %s", ref.Output, lab.Output)
			}
		})
	}
}

func jsonSame(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(x, y)
}

// localStepfunctionsTraces runs the definition tier's runner
// (aws-local-stepfunctions, installed by `make test` from the committed
// lockfile) on the resolved scenarios.
func localStepfunctionsTraces(t *testing.T, root string, resolved scenario.Resolved) map[string]scenario.Trace {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the differential test compares with aws-local-stepfunctions (see docs/local-testing.md)")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "aws-local-stepfunctions")); err != nil {
		t.Fatal("node_modules/aws-local-stepfunctions is missing: run `make test` (or `npm ci` at the repository root)")
	}
	b, err := json.Marshal(resolved)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "scenarios.resolved.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, runnerFile), filepath.Join(root, definitionFile), file)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws-local-stepfunctions: %v\n%s", err, stderr.String())
	}
	var traces []scenario.Trace
	if err := json.Unmarshal(out, &traces); err != nil {
		t.Fatalf("runner output: %v\n%s", err, out)
	}
	m := map[string]scenario.Trace{}
	for _, tr := range traces {
		m[tr.Name] = tr
	}
	return m
}
