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

func TestFunctionViews(t *testing.T) {
	tmpl, err := Parse([]byte(`
Globals:
  Function:
    Timeout: 30
    MemorySize: 256
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Events:
        New: {Type: EventBridgeRule, Properties: {Pattern: {source: [a]}}}
        Old: {Type: CloudWatchEvent, Properties: {Pattern: {source: [b]}}}
        Api: {Type: Api, Properties: {Path: /x}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := tmpl.FunctionProperty("Fn", "Timeout"); got != 60 {
		t.Errorf("Timeout = %v, want the function's own 60", got)
	}
	if got := tmpl.FunctionProperty("Fn", "MemorySize"); got != 256 {
		t.Errorf("MemorySize = %v, want the global 256", got)
	}
	if got := tmpl.FunctionProperty("Fn", "Handler"); got != nil {
		t.Errorf("Handler = %v, want nil", got)
	}
	want := map[string]map[string]any{
		"New": {"Pattern": map[string]any{"source": []any{"a"}}},
		"Old": {"Pattern": map[string]any{"source": []any{"b"}}},
	}
	if diff := cmp.Diff(want, tmpl.EventBridgeRules("Fn")); diff != "" {
		t.Errorf("EventBridgeRules (-want +got):\n%s", diff)
	}
}

func TestParametersBindAndFromEnvironment(t *testing.T) {
	tmpl, err := Parse([]byte(strings.Replace(sample, "Parameters:\n", `Parameters:
  Mode: {Type: String, Default: a, AllowedValues: [a, b]}
  Arn: {Type: String, AllowedPattern: "arn:.*"}
  Percent: {Type: Number, Default: 5}
`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if p := tmpl.Parameters["Percent"]; p.Default == nil || *p.Default != "5" || p.Type != "Number" {
		t.Fatalf("Percent %+v: want the default as a string", p)
	}
	if got := tmpl.ParametersFromEnvironment(map[string]string{"A": "arn:listener", "B": "not a ref", "C": "unused"}); !cmp.Equal(got, map[string]string{"ListenerArn": "arn:listener"}) {
		t.Errorf("ParametersFromEnvironment = %v", got)
	}
	got, err := tmpl.Bind(map[string]string{"ListenerArn": "l", "Arn": "arn:x"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"ListenerArn": "l", "Arn": "arn:x", "Flag": "", "Mode": "a", "Percent": "5"}, got); diff != "" {
		t.Errorf("Bind (-want +got):\n%s", diff)
	}
	_, err = tmpl.Bind(map[string]string{"Arn": "nope", "Mode": "c", "Percent": "x", "Bogus": "1"})
	for _, want := range []string{"parameter Bogus: the template has no such parameter", "parameter ListenerArn: no value and no default",
		`parameter Arn: "nope" does not match`, `parameter Mode: "c" is not one of`, `parameter Percent: "x" is not a number`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Bind error %v does not say %q", err, want)
		}
	}
}

func TestReadSetsDir(t *testing.T) {
	read := func(path string) ([]byte, error) {
		if path != "infra/x/template.yaml" {
			t.Fatalf("read %s", path)
		}
		return []byte(sample), nil
	}
	tmpl, err := Read(read, "infra/x/template.yaml")
	if err != nil || tmpl.Dir != "infra/x" {
		t.Fatalf("Dir %q, %v", tmpl.Dir, err)
	}
	if _, err := Parse([]byte("Parameters: {}\n")); err == nil || !strings.Contains(err.Error(), "no Resources") {
		t.Fatalf("a template without Resources: %v", err)
	}
}
