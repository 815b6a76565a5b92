package statemachine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInputOutputProcessing runs one-state machines and compares the
// state's output with the developer guide's examples.
func TestInputOutputProcessing(t *testing.T) {
	tests := []struct {
		name  string
		def   string
		input string
		want  string
	}{
		{
			// The ResultPath examples of the developer guide, with the
			// Lambda's result as a Pass state's Result.
			name: "Result and ResultPath",
			def: `{"StartAt":"HelloWorld","States":{"HelloWorld":{"Type":"Pass","Result":"Hello, AWS Step Functions!",
				"ResultPath":"$.data.lambdaresult","End":true}}}`,
			input: `{"comment":"An input comment.","data":{"val1":23,"val2":17},"extra":"foo"}`,
			want:  `{"comment":"An input comment.","data":{"lambdaresult":"Hello, AWS Step Functions!","val1":23,"val2":17},"extra":"foo"}`,
		},
		{
			name:  "Result without ResultPath replaces the input",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"next":0},"End":true}}}`,
			input: `{"a":1}`,
			want:  `{"next":0}`,
		},
		{
			// "InputPath and Parameters" example of the developer guide.
			name: "Parameters",
			def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"comment":"Selecting what I care about.",
				"MyDetails":{"size.$":"$.product.details.size","exists.$":"$.product.availability","StaticValue":"foo"}},"End":true}}}`,
			input: `{"comment":"Example for Parameters.","product":{"details":{"color":"blue","size":"small","material":"cotton"},"availability":"in stock","sku":"2317","cost":"$23"}}`,
			want:  `{"MyDetails":{"StaticValue":"foo","exists":"in stock","size":"small"},"comment":"Selecting what I care about."}`,
		},
		{
			name:  "Parameters then ResultPath",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"sku.$":"$.product.sku","static":"x"},"ResultPath":"$.picked","Next":"S"},"S":{"Type":"Succeed"}}}`,
			input: `{"product":{"sku":"2317"}}`,
			want:  `{"picked":{"sku":"2317","static":"x"},"product":{"sku":"2317"}}`,
		},
		{
			name:  "Parameters in arrays",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"list":[{"v.$":"$.a"},"lit",[{"w.$":"$.b"}]]},"End":true}}}`,
			input: `{"a":1,"b":2}`,
			want:  `{"list":[{"v":1},"lit",[{"w":2}]]}`,
		},
		{
			name:  "Pass without Result passes its input",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.copy","End":true}}}`,
			input: `{"a":1}`,
			want:  `{"a":1,"copy":{"a":1}}`,
		},
		{
			name:  "Choice and Succeed pass their input",
			def:   `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.go","BooleanEquals":true,"Next":"S"}]},"S":{"Type":"Succeed"}}}`,
			input: `{"go":true,"keep":{"k":1}}`,
			want:  `{"go":true,"keep":{"k":1}}`,
		},
		{
			name:  "numbers pass through unchanged",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`,
			input: `{"big":12345678901234567890,"f":0.1,"e":1e3}`,
			want:  `{"big":12345678901234567890,"e":1e3,"f":0.1}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil)
			x, h := l.run(t, tc.def, tc.input)
			if x.Status != StatusSucceeded {
				t.Fatalf("status %s (%s: %s)", x.Status, x.Error, x.Cause)
			}
			if diff := cmp.Diff(tc.want, x.Output); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if last := h[len(h)-1]; last.Type != "ExecutionSucceeded" || last.ExecutionSucceeded.Output != x.Output {
				t.Errorf("last event %+v", last)
			}
		})
	}
}

// TestLambdaInvokeResult checks the lambda:invoke integration: the payload
// the function receives, the wrapped result, ResultSelector on $.Payload and
// the history events.
func TestLambdaInvokeResult(t *testing.T) {
	fn := script(ok(`{"healthy":true,"targets":2}`))
	l := newLab(t, map[string]Handler{"healthcheck": fn})
	def := taskDef(`"Parameters":{"FunctionName":"${HealthCheckFunctionArn}","Payload":{"executionArn.$":"$$.Execution.Id","deployment.$":"$.preflight"}},
		"ResultSelector":{"healthy.$":"$.Payload.healthy","status.$":"$.StatusCode"},"ResultPath":"$.health","End":true`)
	x, h := l.run(t, def, `{"preflight":{"id":"d-1"}}`)
	if x.Status != StatusSucceeded {
		t.Fatalf("status %s (%s: %s)", x.Status, x.Error, x.Cause)
	}
	if diff := cmp.Diff(`{"health":{"healthy":true,"status":200},"preflight":{"id":"d-1"}}`, x.Output); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	calls := fn.Calls()
	want := `{"deployment":{"id":"d-1"},"executionArn":"` + x.ARN + `"}`
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("payloads %q, want [%s]", calls, want)
	}
	if diff := cmp.Diff([]string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}, eventTypes(h)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	sched := h[2].TaskScheduled
	if sched.ResourceType != "lambda" || sched.Resource != "invoke" || sched.Region != "us-east-1" {
		t.Errorf("TaskScheduled %+v", sched)
	}
	wantParams := `{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:healthcheck","Payload":` + want + `}`
	if sched.Parameters != wantParams {
		t.Errorf("TaskScheduled parameters %s, want %s", sched.Parameters, wantParams)
	}
	out := mustJSON(t, h[4].TaskSucceeded.Output).(map[string]any)
	if out["StatusCode"] != float64(200) || out["ExecutedVersion"] != "$LATEST" {
		t.Errorf("TaskSucceeded output %v", out)
	}
	if diff := cmp.Diff(map[string]any{"healthy": true, "targets": float64(2)}, out["Payload"]); diff != "" {
		t.Errorf("Payload (-want +got):\n%s", diff)
	}
	for i, e := range h {
		if e.ID != int64(i+1) {
			t.Errorf("event %d has id %d", i, e.ID)
		}
		wantPrev := e.ID - 1
		if e.Type == "TaskStateEntered" {
			wantPrev = 0 // the first state entered, as in AWS's histories
		}
		if e.PreviousEventID != wantPrev {
			t.Errorf("event %d (%s) previousEventId %d, want %d", e.ID, e.Type, e.PreviousEventID, wantPrev)
		}
	}
}

func TestContextObject(t *testing.T) {
	l := newLab(t, nil)
	def := `{"StartAt":"Ctx","States":{"Ctx":{"Type":"Pass","Parameters":{"id.$":"$$.Execution.Id"},"End":true}}}`
	x, _ := l.run(t, def, `{"v":1}`)
	if x.Status != StatusSucceeded {
		t.Fatalf("status %s (%s)", x.Status, x.Cause)
	}
	if diff := cmp.Diff(map[string]any{"id": x.ARN}, mustJSON(t, x.Output)); diff != "" {
		t.Errorf("context object (-want +got):\n%s", diff)
	}
}

func TestIntrinsicFunctions(t *testing.T) {
	tests := []struct {
		name, expr, input, want, wantErr string
	}{
		{name: "Format", expr: `States.Format('Hello, my name is {}.', $.name)`, input: `{"name":"Arnav"}`, want: `"Hello, my name is Arnav."`},
		{name: "Format numbers booleans null", expr: `States.Format('{} {} {}', $.n, $.b, $.z)`, input: `{"n":2.5,"b":true,"z":null}`, want: `"2.5 true null"`},
		{name: "Format escapes", expr: `States.Format('\{\} it\'s {} \\', $.v)`, input: `{"v":"ok"}`, want: `"{} it's ok \\"`},
		{name: "Format of a context value", expr: `States.Format('{} failed', $$.Execution.Id)`, input: `{}`, want: `"{{arn}} failed"`},
		{name: "Format rejects objects", expr: `States.Format('{}', $.o)`, input: `{"o":{}}`, wantErr: "only strings, numbers, booleans and null"},
		{name: "JsonToString", expr: `States.JsonToString($.o)`, input: `{"o":{"foo":"bar"}}`, want: `"{\"foo\":\"bar\"}"`},
		{name: "nested, as the definition's rollback verdict", expr: `States.Format('at {}%: {}', $.p, States.JsonToString($.r))`, input: `{"p":10,"r":["5xx 9%"]}`, want: `"at 10%: [\"5xx 9%\"]"`},
		{name: "missing path", expr: `States.Format('{}', $.nope)`, input: `{}`, wantErr: "could not be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil)
			def := `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":` + encodeJSON(tc.expr) + `},"End":true}}}`
			x, _ := l.run(t, def, tc.input)
			if tc.wantErr != "" {
				if x.Status != StatusFailed || x.Error != ErrRuntime || !strings.Contains(x.Cause, tc.wantErr) {
					t.Fatalf("got %s %s %q, want States.Runtime containing %q", x.Status, x.Error, x.Cause, tc.wantErr)
				}
				return
			}
			if x.Status != StatusSucceeded {
				t.Fatalf("status %s (%s: %s)", x.Status, x.Error, x.Cause)
			}
			if diff := cmp.Diff(`{"v":`+strings.ReplaceAll(tc.want, "{{arn}}", x.ARN)+`}`, x.Output); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRuntimeErrors checks what fails an execution with States.Runtime,
// which a Catch on States.ALL does not catch, and what a catcher does
// catch.
func TestRuntimeErrors(t *testing.T) {
	catchAll := `"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}]`
	caught := `"Caught":{"Type":"Pass","End":true}`
	tests := []struct {
		name       string
		fields     string
		input      string
		wantStatus string
		wantError  string
		wantCause  string
		wantStates []string
	}{
		{
			name:   "Parameters path missing",
			fields: `"Parameters":{"FunctionName":"fn","Payload":{"job.$":"$.JobName"}},` + catchAll + `,"End":true`,
			input:  `{}`, wantStatus: StatusFailed, wantError: ErrRuntime,
			wantCause:  "An error occurred while executing the state 'T' (entered at the event id #2). The JSONPath '$.JobName' specified for the field 'job.$' could not be found in the input '{}'",
			wantStates: []string{"T"},
		},
		{
			name:   "ResultSelector path missing",
			fields: `"Parameters":{"FunctionName":"fn","Payload":{}},"ResultSelector":{"x.$":"$.Payload.nope"},` + catchAll + `,"End":true`,
			input:  `{}`, wantStatus: StatusFailed, wantError: ErrRuntime, wantCause: "'$.Payload.nope'",
			wantStates: []string{"T"},
		},
		{
			name:   "ResultPath mismatch is caught",
			fields: `"Parameters":{"FunctionName":"fn","Payload":{}},"ResultPath":"$.s.x",` + catchAll + `,"End":true`,
			input:  `{"s":"text"}`, wantStatus: StatusSucceeded,
			wantStates: []string{"T", "Caught"},
		},
		{
			name:   "function error is caught",
			fields: `"Parameters":{"FunctionName":"failing","Payload":{}},` + catchAll + `,"End":true`,
			input:  `{}`, wantStatus: StatusSucceeded,
			wantStates: []string{"T", "Caught"},
		},
		{
			name:   "uncaught function error fails the execution",
			fields: `"Parameters":{"FunctionName":"failing","Payload":{}},"Catch":[{"ErrorEquals":["Other"],"Next":"Caught"}],"End":true`,
			input:  `{}`, wantStatus: StatusFailed, wantError: "WarmupFailed",
			wantCause:  `{"errorMessage":"WarmupFailed from the fake","errorType":"WarmupFailed"}`,
			wantStates: []string{"T"},
		},
		{
			name:   "unknown function",
			fields: `"Parameters":{"FunctionName":"nosuch","Payload":{}},"Catch":[{"ErrorEquals":["Other"],"Next":"Caught"}],"End":true`,
			input:  `{}`, wantStatus: StatusFailed, wantError: "Lambda.ResourceNotFoundException",
			wantCause:  "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nosuch (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException",
			wantStates: []string{"T"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, map[string]Handler{"fn": script(ok(`{}`)), "failing": script(fails("WarmupFailed"))})
			x, h := l.run(t, taskDef(tc.fields, caught), tc.input)
			if x.Status != tc.wantStatus || x.Error != tc.wantError || !strings.Contains(x.Cause, tc.wantCause) {
				t.Fatalf("got %s %s %q, want %s %s containing %q", x.Status, x.Error, x.Cause, tc.wantStatus, tc.wantError, tc.wantCause)
			}
			if diff := cmp.Diff(tc.wantStates, entered(h)); diff != "" {
				t.Errorf("states entered (-want +got):\n%s", diff)
			}
			if tc.wantStatus == StatusFailed {
				last := h[len(h)-1]
				if last.Type != "ExecutionFailed" || last.ExecutionFailed.Error != tc.wantError {
					t.Errorf("last event %s %+v", last.Type, last.ExecutionFailed)
				}
			}
		})
	}
}

func TestCatchErrorOutput(t *testing.T) {
	l := newLab(t, map[string]Handler{"failing": script(fails("CandidateUnhealthy"))})
	def := taskDef(`"Parameters":{"FunctionName":"failing","Payload":{}},"ResultPath":"$.health",
		"Catch":[{"ErrorEquals":["CandidateUnhealthy"],"ResultPath":"$.error","Next":"Rollback"}],"End":true`,
		`"Rollback":{"Type":"Fail","Error":"RolledBack","CausePath":"$.error.Cause"}`)
	x, h := l.run(t, def, `{"preflight":{"id":"d-1"}}`)
	if x.Status != StatusFailed || x.Error != "RolledBack" {
		t.Fatalf("got %s %s %s", x.Status, x.Error, x.Cause)
	}
	wantCause := `{"errorMessage":"CandidateUnhealthy from the fake","errorType":"CandidateUnhealthy"}`
	if x.Cause != wantCause {
		t.Errorf("cause %q, want %q", x.Cause, wantCause)
	}
	// The catcher keeps the input and adds the error output.
	want := map[string]any{"preflight": map[string]any{"id": "d-1"}, "error": map[string]any{
		"Error": "CandidateUnhealthy", "Cause": `{"errorMessage":"CandidateUnhealthy from the fake","errorType":"CandidateUnhealthy"}`,
	}}
	if diff := cmp.Diff(want, exitedOutput(t, h, "T")); diff != "" {
		t.Errorf("T output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited", "FailStateEntered", "ExecutionFailed"}, eventTypes(h)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if f := h[4].TaskFailed; f.Error != "CandidateUnhealthy" || f.ResourceType != "lambda" || f.Resource != "invoke" {
		t.Errorf("TaskFailed %+v", f)
	}
}

// TestFailCausePath: CausePath must name a string in the state's input.
func TestFailCausePath(t *testing.T) {
	for _, tc := range []struct{ name, input, wantError, wantCause string }{
		{name: "a string", input: `{"rollback":{"reason":"alarm"}}`, wantError: "RolledBack", wantCause: "alarm"},
		{name: "missing", input: `{}`, wantError: ErrRuntime, wantCause: "Invalid path '$.rollback.reason' for the field 'CausePath'"},
		{name: "not a string", input: `{"rollback":{"reason":1}}`, wantError: ErrRuntime, wantCause: "must be a string, not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil)
			x, _ := l.run(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"RolledBack","CausePath":"$.rollback.reason"}}}`, tc.input)
			if x.Status != StatusFailed || x.Error != tc.wantError || !strings.Contains(x.Cause, tc.wantCause) {
				t.Fatalf("got %s %s %q, want %s containing %q", x.Status, x.Error, x.Cause, tc.wantError, tc.wantCause)
			}
		})
	}
}
