package statemachine

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/emulators"
)

// TestLoadRefusesUnsupportedFeatures: a definition using an ASL feature the
// engine does not implement is refused at load, with an error naming the
// feature and the state.
func TestLoadRefusesUnsupportedFeatures(t *testing.T) {
	task := func(fields string) string {
		return taskDef(`"Parameters":{"FunctionName":"f","Payload":{}},` + fields + `"End":true`)
	}
	pass := func(params string) string {
		return `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":` + encodeJSON(params) + `},"End":true}}}`
	}
	choice := func(rule string) string {
		return `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[` + rule + `]},"S":{"Type":"Succeed"}}}`
	}
	tests := []struct {
		name    string
		def     string
		where   string
		feature string
	}{
		{name: "Parallel state (testdata)", def: readTestdata(t, "unsupported-parallel.asl.json"), where: `state "CheckBothColours"`, feature: "Parallel state"},
		{name: "Map state", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{},"End":true}}}`, where: `state "M"`, feature: "Map state"},
		{name: "JSONata", def: `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, where: "definition", feature: "QueryLanguage JSONata"},
		{name: "top-level TimeoutSeconds", def: `{"TimeoutSeconds":60,"StartAt":"S","States":{"S":{"Type":"Succeed"}}}`, where: "definition", feature: "the top-level TimeoutSeconds"},
		{name: "Version", def: `{"Version":"1.0","StartAt":"S","States":{"S":{"Type":"Succeed"}}}`, where: "definition", feature: "the top-level Version"},
		{name: "variables", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"x":1},"End":true}}}`, where: `state "P"`, feature: "Pass Assign"},
		{name: "waitForTaskToken", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{}},"End":true}}}`,
			where: `state "T"`, feature: "Task Resource arn:aws:states:::lambda:invoke.waitForTaskToken"},
		{name: "aws-sdk integration", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener","Parameters":{},"End":true}}}`,
			where: `state "T"`, feature: "Task Resource arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener"},
		{name: "HeartbeatSeconds", def: task(`"HeartbeatSeconds":60,`), where: `state "T"`, feature: "Task HeartbeatSeconds"},
		{name: "TimeoutSeconds", def: task(`"TimeoutSeconds":60,`), where: `state "T"`, feature: "Task TimeoutSeconds"},
		{name: "InputPath", def: task(`"InputPath":"$.x",`), where: `state "T"`, feature: "Task InputPath"},
		{name: "OutputPath", def: task(`"OutputPath":"$.x",`), where: `state "T"`, feature: "Task OutputPath"},
		{name: "ResultPath null", def: task(`"ResultPath":null,`), where: `state "T"`, feature: "Task ResultPath null"},
		{name: "InvocationType", def: taskDef(`"Parameters":{"FunctionName":"f","Payload":{},"InvocationType":"Event"},"End":true`), where: `state "T"`, feature: "lambda:invoke parameter InvocationType"},
		{name: "JitterStrategy", def: task(`"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"FULL"}],`), where: `state "T": Retry[0]`, feature: "Retry JitterStrategy"},
		{name: "States.TaskFailed", def: task(`"Retry":[{"ErrorEquals":["States.TaskFailed"]}],`), where: `state "T": Retry[0]`, feature: "error name States.TaskFailed"},
		{name: "States.Timeout in a catcher", def: task(`"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"T"}],`), where: `state "T": Catch[0]`, feature: "error name States.Timeout"},
		{name: "Wait Timestamp", def: `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"2026-01-01T00:00:00Z","End":true}}}`, where: `state "W"`, feature: "Wait Timestamp"},
		{name: "Wait TimestampPath", def: `{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.t","End":true}}}`, where: `state "W"`, feature: "Wait TimestampPath"},
		{name: "Fail ErrorPath", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e"}}}`, where: `state "F"`, feature: "Fail ErrorPath"},
		{name: "Fail Cause", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"c"}}}`, where: `state "F"`, feature: "Fail Cause"},
		{name: "CausePath intrinsic", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","CausePath":"States.Format('{}', $.c)"}}}`, where: `state "F"`, feature: "Fail CausePath with an intrinsic function"},
		{name: "Choice InputPath", def: `{"StartAt":"C","States":{"C":{"Type":"Choice","InputPath":"$.x","Choices":[{"Variable":"$.a","BooleanEquals":true,"Next":"S"}]},"S":{"Type":"Succeed"}}}`,
			where: `state "C"`, feature: "Choice InputPath"},
		{name: "And", def: choice(`{"And":[{"Variable":"$.a","BooleanEquals":true}],"Next":"S"}`), where: `state "C": Choices[0]`, feature: "choice rule And"},
		{name: "Not", def: choice(`{"Not":{"Variable":"$.a","BooleanEquals":true},"Next":"S"}`), where: `state "C": Choices[0]`, feature: "choice rule Not"},
		{name: "NumericEquals", def: choice(`{"Variable":"$.a","NumericEquals":1,"Next":"S"}`), where: `state "C": Choices[0]`, feature: "choice rule NumericEquals"},
		{name: "StringEqualsPath", def: choice(`{"Variable":"$.a","StringEqualsPath":"$.b","Next":"S"}`), where: `state "C": Choices[0]`, feature: "choice rule StringEqualsPath"},
		{name: "IsPresent in an Or", def: choice(`{"Or":[{"Variable":"$.a","IsPresent":true}],"Next":"S"}`), where: `state "C": Choices[0].Or[0]`, feature: "choice rule IsPresent"},
		{name: "JSONata choice rule", def: choice(`{"Condition":"{% true %}","Next":"S"}`), where: `state "C": Choices[0]`, feature: "choice rule Condition"},
		{name: "States.MathAdd", def: pass(`States.MathAdd($.a, 1)`), where: `state "P"`, feature: "intrinsic function States.MathAdd"},
		{name: "States.UUID nested", def: pass(`States.Format('{}', States.UUID())`), where: `state "P"`, feature: "intrinsic function States.UUID"},
		{name: "a number literal argument", def: pass(`States.Format('{}', 3)`), where: `state "P"`, feature: "intrinsic argument number literal"},
		{name: "context object field", def: pass(`$$.State.RetryCount`), where: `state "P"`, feature: "context object $$.State.RetryCount"},
		{name: "context object in a choice", def: choice(`{"Variable":"$$.Execution.Name","StringEquals":"x","Next":"S"}`), where: `state "C": Choices[0]`, feature: "context object $$.Execution.Name"},
		{name: "path subscripts", def: pass(`$.items[0]`), where: `state "P"`, feature: "path subscripts [...]"},
		{name: "state-level QueryLanguage", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","QueryLanguage":"JSONPath","End":true}}}`, where: `state "P"`, feature: "Pass QueryLanguage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.def), nil)
			if err == nil {
				t.Fatal("Load accepted the definition")
			}
			msg := err.Error()
			var u *UnsupportedError
			if !errors.As(err, &u) {
				t.Fatalf("error %q is not an UnsupportedError", msg)
			}
			if u.Feature != tc.feature || u.Where != tc.where {
				t.Errorf("unsupported %q at %q, want %q at %q", u.Feature, u.Where, tc.feature, tc.where)
			}
			if !strings.Contains(msg, "is not supported by the lab's Step Functions engine") {
				t.Errorf("error %q does not say it is unsupported", msg)
			}
		})
	}
}

// TestSupportedFeaturesAreThoseOfTheRealDefinition derives the features the
// project's definition uses and fails if the engine supports more (code no
// definition runs, with no parity evidence) or fewer (the real definition
// would not load).
func TestSupportedFeaturesAreThoseOfTheRealDefinition(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(emulators.ModuleRoot(t), definitionFile))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := decodeJSON(text)
	if err != nil {
		t.Fatal(err)
	}
	top := raw.(map[string]any)
	uses, err := features(top, definitionOrder(string(text), top["States"].(map[string]any)))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, u := range uses {
		used[u.feature] = true
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(used)), SupportedFeatures()); diff != "" {
		t.Errorf("features of %s (-) vs the engine's (+):\n%s", definitionFile, diff)
	}
	if _, err := Load(text, testSubstitutions); err != nil {
		t.Errorf("the engine refuses the real definition: %v", err)
	}
}

// readDefinition reads the project's definition.
func readDefinition(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(emulators.ModuleRoot(t), definitionFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoadRejectsInvalidDefinitions: mistakes AWS's CreateStateMachine
// would reject.
func TestLoadRejectsInvalidDefinitions(t *testing.T) {
	tests := []struct {
		name, def, wantErr string
		subs               map[string]string
	}{
		{name: "not JSON", def: `{`, wantErr: "not valid JSON"},
		{name: "missing StartAt", def: `{"States":{"S":{"Type":"Succeed"}}}`, wantErr: "StartAt is required"},
		{name: "StartAt not a state", def: `{"StartAt":"X","States":{"S":{"Type":"Succeed"}}}`, wantErr: `StartAt "X" is not a state`},
		{name: "dangling Next", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nope"}}}`, wantErr: `transition to "Nope"`},
		{name: "unreachable state", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"Q":{"Type":"Pass","End":true}}}`, wantErr: `"Q" is not reachable`},
		{name: "Next and End", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"P","End":true}}}`, wantErr: "exactly one of Next and End"},
		{name: "misspelled field", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPth":"$.x","End":true}}}`, wantErr: `field "ResultPth" is not valid in a Pass state`},
		{name: "States.ALL not alone", def: taskDef(`"Parameters":{"FunctionName":"f","Payload":{}},"Retry":[{"ErrorEquals":["States.ALL","X"]}],"End":true`), wantErr: "States.ALL must appear alone"},
		{name: "States.ALL not last", def: taskDef(`"Parameters":{"FunctionName":"f","Payload":{}},"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}],"End":true`), wantErr: "States.ALL must appear alone"},
		{name: "BackoffRate below 1", def: taskDef(`"Parameters":{"FunctionName":"f","Payload":{}},"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}],"End":true`), wantErr: "invalid BackoffRate"},
		{name: "lambda:invoke without FunctionName", def: taskDef(`"Parameters":{"Payload":{}},"End":true`), wantErr: "needs Parameters.FunctionName"},
		{name: "Wait with two durations", def: `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, wantErr: "exactly one of Seconds"},
		{name: "Catch without Next", def: taskDef(`"Parameters":{"FunctionName":"f","Payload":{}},"Catch":[{"ErrorEquals":["X"]}],"End":true`), wantErr: "Next is required"},
		{name: "Format arity", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"States.Format('{} {}', $.v)"},"End":true}}}`, wantErr: "2 placeholders but 1 values"},
		{name: "Format template from a path", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"States.Format($.t, $.v)"},"End":true}}}`, wantErr: "takes a string literal template"},
		{name: "field with and without .$", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a":1,"a.$":"$.b"},"End":true}}}`, wantErr: "both with and without .$"},
		{name: "missing substitution", def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"${ShiftFunctionArn}","Payload":{}},"End":true}}}`, wantErr: "substitutions that are not given: ShiftFunctionArn"},
		{name: "open escape in an intrinsic", def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"States.Format('\\x')"},"End":true}}}`, wantErr: "open escape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.def), tc.subs)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadSubstitutesAndListsFunctions(t *testing.T) {
	def, err := Load([]byte(readDefinition(t)), testSubstitutions)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{
		testSubstitutions["PreflightFunctionArn"], testSubstitutions["ReleaseFunctionArn"],
		testSubstitutions["HealthCheckFunctionArn"], testSubstitutions["WarmUpFunctionArn"],
		testSubstitutions["ShiftFunctionArn"], testSubstitutions["EvaluateFunctionArn"],
		testSubstitutions["FinalizeFunctionArn"], testSubstitutions["RollbackFunctionArn"],
	}
	if diff := cmp.Diff(want, def.Functions()); diff != "" {
		t.Errorf("Functions (-want +got):\n%s", diff)
	}
	if strings.Contains(def.Text(), "${") {
		t.Errorf("substitution left in %s", def.Text())
	}
}

func TestFunctionName(t *testing.T) {
	tests := []struct{ in, name, qualifier, wantErr string }{
		{in: "preflight", name: "preflight"},
		{in: "preflight:live", name: "preflight", qualifier: "live"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:preflight", name: "preflight"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:preflight:$LATEST", name: "preflight", qualifier: "$LATEST"},
		{in: "123456789012:function:shift", name: "shift"},
		{in: "arn:aws:states:us-east-1:123456789012:stateMachine:x", wantErr: "not a Lambda function ARN"},
		{in: "a b", wantErr: "not a Lambda function name"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			name, q, err := FunctionName(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FunctionName = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || name != tc.name || q != tc.qualifier {
				t.Fatalf("FunctionName = %q %q %v, want %q %q", name, q, err, tc.name, tc.qualifier)
			}
		})
	}
}
