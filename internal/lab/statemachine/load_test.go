package statemachine

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadRefusesUnsupportedFeatures: a definition using an ASL feature the
// engine does not implement is refused at load, with an error naming the
// feature and the state.
func TestLoadRefusesUnsupportedFeatures(t *testing.T) {
	tests := []struct {
		name    string
		def     string
		where   string
		feature string
	}{
		{
			name:  "Parallel state (testdata)",
			def:   readTestdata(t, "unsupported-parallel.asl.json"),
			where: `state "CheckBothColours"`, feature: "the Parallel state type",
		},
		{
			name:  "Map state",
			def:   `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{},"End":true}}}`,
			where: `state "M"`, feature: "the Map state type",
		},
		{
			name:  "JSONata",
			def:   `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`,
			where: "definition", feature: "QueryLanguage JSONata",
		},
		{
			name:  "variables",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"x":1},"End":true}}}`,
			where: `state "P"`, feature: "Assign (workflow variables)",
		},
		{
			name:  "waitForTaskToken",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{}},"End":true}}}`,
			where: `state "T"`, feature: "the .waitForTaskToken integration pattern",
		},
		{
			name:  "aws-sdk integration",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener","Parameters":{},"End":true}}}`,
			where: `state "T"`, feature: "the Task resource arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener",
		},
		{
			name:  "legacy Lambda ARN resource",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}}`,
			where: `state "T"`, feature: "the Lambda-ARN Task resource",
		},
		{
			name:  "HeartbeatSeconds",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f","Payload":{}},"HeartbeatSeconds":60,"End":true}}}`,
			where: `state "T"`, feature: "HeartbeatSeconds",
		},
		{
			name:  "InvocationType",
			def:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f","Payload":{},"InvocationType":"Event"},"End":true}}}`,
			where: `state "T"`, feature: "the lambda:invoke parameter InvocationType",
		},
		{
			name:  "non-reference path",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"ids.$":"$.items[*].id"},"End":true}}}`,
			where: `state "P"`, feature: "",
		},
		{
			name:  "intrinsic function not implemented",
			def:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"h.$":"States.Hash($.v, 'SHA-256')"},"End":true}}}`,
			where: `state "P"`, feature: "",
		},
		{
			name:  "JSONata choice rule",
			def:   `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Condition":"{% true %}","Next":"S"}]},"S":{"Type":"Succeed"}}}`,
			where: `state "C": Choices[0]`, feature: "Condition (JSONata choice rules)",
		},
		{
			name:  "top-level TimeoutSeconds",
			def:   `{"TimeoutSeconds":60,"StartAt":"S","States":{"S":{"Type":"Succeed"}}}`,
			where: "definition", feature: "the top-level TimeoutSeconds",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.def), nil)
			if err == nil {
				t.Fatal("Load accepted the definition")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.where) {
				t.Errorf("error %q does not name %s", msg, tc.where)
			}
			if tc.feature != "" {
				var u *UnsupportedError
				if !errors.As(err, &u) {
					t.Fatalf("error %q is not an UnsupportedError", msg)
				}
				if !strings.HasPrefix(u.Feature, tc.feature) {
					t.Errorf("feature %q, want %q", u.Feature, tc.feature)
				}
				if !strings.Contains(msg, "is not supported by the lab's Step Functions engine") {
					t.Errorf("error %q does not say it is unsupported", msg)
				}
			} else if !strings.Contains(msg, "not supported") {
				t.Errorf("error %q does not say what is not supported", msg)
			}
		})
	}
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
		{name: "Fail with Cause and CausePath", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","Cause":"x","CausePath":"$.c"}}}`, wantErr: "Cause and CausePath are exclusive"},
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
	def, err := Load([]byte(readTestdata(t, "pipeline.asl.json")), testSubstitutions)
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
