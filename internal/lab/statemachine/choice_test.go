package statemachine

import (
	"strings"
	"testing"
)

func TestChoiceRules(t *testing.T) {
	// The Choice example of the developer guide: input {"type":"Private",
	// "value":22} goes to ValueInTwenties.
	docInput := `{"type": "Private", "value": 22}`
	tests := []struct {
		name    string
		rule    string
		input   string
		want    bool
		wantErr string
	}{
		{name: "doc Not StringEquals", input: docInput, rule: `{"Not":{"Variable":"$.type","StringEquals":"Private"}}`, want: false},
		{name: "doc NumericEquals", input: docInput, rule: `{"Variable":"$.value","NumericEquals":0}`, want: false},
		{name: "doc And range", input: docInput, rule: `{"And":[{"Variable":"$.value","NumericGreaterThanEquals":20},{"Variable":"$.value","NumericLessThan":30}]}`, want: true},
		{name: "Or", input: docInput, rule: `{"Or":[{"Variable":"$.value","NumericLessThan":0},{"Variable":"$.type","StringEquals":"Private"}]}`, want: true},
		{name: "Or none", input: docInput, rule: `{"Or":[{"Variable":"$.value","NumericLessThan":0},{"Variable":"$.type","StringEquals":"Public"}]}`, want: false},
		{name: "numeric 1 equals 1.0", input: `{"n":1}`, rule: `{"Variable":"$.n","NumericEquals":1.0}`, want: true},
		{name: "number is not a string", input: `{"n":1}`, rule: `{"Variable":"$.n","StringEquals":"1"}`, want: false},
		{name: "string is not a number", input: `{"n":"1"}`, rule: `{"Variable":"$.n","NumericEquals":1}`, want: false},
		{name: "BooleanEquals", input: `{"b":true}`, rule: `{"Variable":"$.b","BooleanEquals":true}`, want: true},
		{name: "BooleanEquals wrong type", input: `{"b":"true"}`, rule: `{"Variable":"$.b","BooleanEquals":true}`, want: false},
		{name: "StringLessThan", input: `{"s":"abc"}`, rule: `{"Variable":"$.s","StringLessThan":"abd"}`, want: true},
		{name: "StringGreaterThanEquals equal", input: `{"s":"abc"}`, rule: `{"Variable":"$.s","StringGreaterThanEquals":"abc"}`, want: true},
		// Java's compareTo orders UTF-16 code units: U+FF5E (one unit,
		// 0xFF5E) sorts after U+1F600 (surrogates 0xD83D...), unlike UTF-8.
		{name: "string order is UTF-16", input: `{"s":"😀"}`, rule: `{"Variable":"$.s","StringLessThan":"～"}`, want: true},
		{name: "StringMatches star", input: `{"f":"log-2019-01.txt"}`, rule: `{"Variable":"$.f","StringMatches":"log-*.txt"}`, want: true},
		{name: "StringMatches no match", input: `{"f":"log-2019-01.csv"}`, rule: `{"Variable":"$.f","StringMatches":"log-*.txt"}`, want: false},
		{name: "StringMatches escaped star", input: `{"f":"a*b"}`, rule: `{"Variable":"$.f","StringMatches":"a\\*b"}`, want: true},
		{name: "StringMatches escaped star is literal", input: `{"f":"axxb"}`, rule: `{"Variable":"$.f","StringMatches":"a\\*b"}`, want: false},
		{name: "StringMatches several stars", input: `{"f":"shift-3-of-5"}`, rule: `{"Variable":"$.f","StringMatches":"*-*-of-*"}`, want: true},
		{name: "TimestampLessThan", input: `{"t":"2016-03-14T01:59:00Z"}`, rule: `{"Variable":"$.t","TimestampLessThan":"2016-03-14T02:00:00Z"}`, want: true},
		{name: "TimestampEquals with offset", input: `{"t":"2016-03-14T03:00:00+01:00"}`, rule: `{"Variable":"$.t","TimestampEquals":"2016-03-14T02:00:00Z"}`, want: true},
		{name: "lowercase t is not a timestamp", input: `{"t":"2016-03-14t01:59:00Z"}`, rule: `{"Variable":"$.t","TimestampLessThan":"2016-03-14T02:00:00Z"}`, want: false},
		{name: "NumericLessThanPath", input: `{"held":60,"max":300}`, rule: `{"Variable":"$.held","NumericLessThanPath":"$.max"}`, want: true},
		{name: "StringEqualsPath", input: `{"a":"x","b":"x"}`, rule: `{"Variable":"$.a","StringEqualsPath":"$.b"}`, want: true},
		{name: "TimestampGreaterThanPath", input: `{"a":"2020-01-02T00:00:00Z","b":"2020-01-01T00:00:00Z"}`, rule: `{"Variable":"$.a","TimestampGreaterThanPath":"$.b"}`, want: true},
		{name: "IsPresent false when absent", input: `{}`, rule: `{"Variable":"$.x","IsPresent":true}`, want: false},
		{name: "IsPresent on null", input: `{"x":null}`, rule: `{"Variable":"$.x","IsPresent":true}`, want: true},
		{name: "IsPresent false", input: `{}`, rule: `{"Variable":"$.x","IsPresent":false}`, want: true},
		{name: "IsNull", input: `{"x":null}`, rule: `{"Variable":"$.x","IsNull":true}`, want: true},
		{name: "IsNumeric", input: `{"x":"1"}`, rule: `{"Variable":"$.x","IsNumeric":true}`, want: false},
		{name: "IsString", input: `{"x":"1"}`, rule: `{"Variable":"$.x","IsString":true}`, want: true},
		{name: "IsBoolean", input: `{"x":false}`, rule: `{"Variable":"$.x","IsBoolean":true}`, want: true},
		{name: "IsTimestamp", input: `{"x":"2020-01-01T00:00:00Z"}`, rule: `{"Variable":"$.x","IsTimestamp":true}`, want: true},
		{name: "context variable", input: `{}`, rule: `{"Variable":"$$.State.RetryCount","NumericEquals":0}`, want: true},
		{name: "missing variable is a runtime error", input: `{}`, rule: `{"Variable":"$.verdict","StringEquals":"promote"}`, wantErr: "Invalid path '$.verdict'"},
		{name: "missing Path operand is a runtime error", input: `{"a":1}`, rule: `{"Variable":"$.a","NumericEqualsPath":"$.b"}`, wantErr: "Invalid path '$.b'"},
		{name: "IsNull on a missing variable is a runtime error", input: `{}`, rule: `{"Variable":"$.x","IsNull":true}`, wantErr: "Invalid path"},
		{name: "And stops at the first false", input: `{"a":1}`, rule: `{"And":[{"Variable":"$.a","NumericEquals":2},{"Variable":"$.missing","NumericEquals":1}]}`, want: false},
	}
	ctxObj := decodeT(t, `{"State":{"RetryCount":0}}`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseChoiceRule(decodeT(t, tc.rule), false, "test")
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := r.eval(decodeT(t, tc.input), ctxObj)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("eval = %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got != tc.want {
				t.Errorf("eval = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChoiceRuleRejected(t *testing.T) {
	tests := []struct {
		name, rule, wantErr string
		top                 bool
	}{
		{name: "Next in a nested rule", rule: `{"Variable":"$.a","IsPresent":true,"Next":"X"}`, wantErr: "only in a top-level"},
		{name: "top-level without Next", rule: `{"Variable":"$.a","IsPresent":true}`, top: true, wantErr: "needs Next"},
		{name: "two operators", rule: `{"Variable":"$.a","StringEquals":"x","NumericEquals":1}`, wantErr: "exactly one operator"},
		{name: "wrong operand type", rule: `{"Variable":"$.a","NumericEquals":"1"}`, wantErr: "takes a number"},
		{name: "bad timestamp", rule: `{"Variable":"$.a","TimestampEquals":"yesterday"}`, wantErr: "takes a timestamp"},
		{name: "unknown operator", rule: `{"Variable":"$.a","StringContains":"x"}`, wantErr: "not supported"},
		{name: "StringMatchesPath does not exist", rule: `{"Variable":"$.a","StringMatchesPath":"$.b"}`, wantErr: "not supported"},
		{name: "JSONata Condition", rule: `{"Condition":"{% $x %}"}`, wantErr: "Condition (JSONata choice rules) is not supported"},
		{name: "empty And", rule: `{"And":[]}`, wantErr: "non-empty array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseChoiceRule(decodeT(t, tc.rule), tc.top, "test")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse = %v, want error %q", err, tc.wantErr)
			}
		})
	}
}
