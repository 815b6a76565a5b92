package samtemplate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `
Parameters:
  ListenerArn: {Type: String}
  Flag: {Type: String, Default: ""}
Conditions:
  HasFlag: !Not [!Equals [!Ref Flag, ""]]
Globals:
  Function:
    Environment:
      Variables:
        A: !Ref ListenerArn
        B: global
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      Environment:
        Variables:
          B: !Sub "${AWS::StackName}-b"
      Policies:
        - Statement:
            - Sid: One
              Effect: Allow
              Action: [x:B, x:A]
              Resource: "*"
            - !If
              - HasFlag
              - Sid: Two
                Effect: Allow
                Action: x:C
                Resource: !GetAtt Other.Arn
              - !Ref AWS::NoValue
  Other:
    Type: AWS::SQS::Queue
`

func TestParseExpandsShortForms(t *testing.T) {
	tmpl, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	env := tmpl.FunctionEnvironment("Fn")
	want := map[string]any{"A": map[string]any{"Ref": "ListenerArn"}, "B": map[string]any{"Fn::Sub": "${AWS::StackName}-b"}}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	stmts, err := tmpl.Statements("Fn")
	if err != nil {
		t.Fatal(err)
	}
	wantStmts := []Statement{
		{Sid: "One", Effect: "Allow", Actions: []string{"x:B", "x:A"}, Resources: []any{"*"}},
		{Sid: "Two", Effect: "Allow", Actions: []string{"x:C"}, Resources: []any{map[string]any{"Fn::GetAtt": []any{"Other", "Arn"}}}, Condition: "HasFlag"},
	}
	if diff := cmp.Diff(wantStmts, stmts); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
	if got := Actions(stmts); !cmp.Equal(got, []string{"x:A", "x:B", "x:C"}) {
		t.Errorf("Actions = %v", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"alias", "a: &x 1\nb: *x\n", "aliases"},
		{"unknown tag", "a: !Bogus x\n", "unknown tag"},
		{"duplicate key", "a: 1\na: 2\n", "duplicate key"},
		{"bad GetAtt", "a: !GetAtt NoDot\n", "Resource.Attribute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStatementsRejectsPolicyTemplates(t *testing.T) {
	tmpl, err := Parse([]byte("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - AWSLambdaExecute\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Statements("Fn"); err == nil {
		t.Fatal("a managed policy name was accepted: the checks could not see its actions")
	}
}

func TestEval(t *testing.T) {
	params := map[string]string{
		"ListenerArn":    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2",
		"TG":             "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067",
		"AlarmPrefix":    "p-",
		"AWS::Region":    "eu-west-1",
		"AWS::StackName": "s",
	}
	split := func(d, ref string) any { return map[string]any{"Fn::Split": []any{d, map[string]any{"Ref": ref}}} }
	for _, tc := range []struct {
		name string
		v    any
		want any
	}{
		{"load balancer dimension", map[string]any{"Fn::Join": []any{"/", []any{
			map[string]any{"Fn::Select": []any{1, split("/", "ListenerArn")}},
			map[string]any{"Fn::Select": []any{2, split("/", "ListenerArn")}},
			map[string]any{"Fn::Select": []any{3, split("/", "ListenerArn")}},
		}}}, "app/relay/50dc6c495c0c9188"},
		{"target group dimension", map[string]any{"Fn::Select": []any{5, split(":", "TG")}}, "targetgroup/relay-blue/73e2d6bc24d8a067"},
		{"sub", map[string]any{"Fn::Sub": "${AlarmPrefix}blue-5xx-rate in ${AWS::Region}"}, "p-blue-5xx-rate in eu-west-1"},
		{"sub with variables and a literal", map[string]any{"Fn::Sub": []any{"${X}/${!Literal}", map[string]any{"X": map[string]any{"Ref": "AWS::StackName"}}}}, "s/${Literal}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Eval(tc.v, params)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := Eval(map[string]any{"Fn::GetAtt": []any{"A", "B"}}, params); err == nil {
		t.Error("Fn::GetAtt evaluated: want an error")
	}
	if _, err := Eval(map[string]any{"Ref": "Missing"}, params); err == nil {
		t.Error("Ref to a missing parameter evaluated: want an error")
	}
}
