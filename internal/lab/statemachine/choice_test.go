package statemachine

import (
	"strings"
	"testing"
)

func TestChoiceRules(t *testing.T) {
	tests := []struct {
		name    string
		rule    string
		input   string
		want    bool
		wantErr string
	}{
		{name: "StringEquals", input: `{"verdict":"hold"}`, rule: `{"Variable":"$.verdict","StringEquals":"hold"}`, want: true},
		{name: "StringEquals other", input: `{"verdict":"hold"}`, rule: `{"Variable":"$.verdict","StringEquals":"continue"}`, want: false},
		{name: "StringEquals is case-sensitive", input: `{"verdict":"Hold"}`, rule: `{"Variable":"$.verdict","StringEquals":"hold"}`, want: false},
		{name: "number is not a string", input: `{"n":1}`, rule: `{"Variable":"$.n","StringEquals":"1"}`, want: false},
		{name: "BooleanEquals", input: `{"b":true}`, rule: `{"Variable":"$.b","BooleanEquals":true}`, want: true},
		{name: "BooleanEquals false", input: `{"b":false}`, rule: `{"Variable":"$.b","BooleanEquals":true}`, want: false},
		{name: "BooleanEquals wrong type", input: `{"b":"true"}`, rule: `{"Variable":"$.b","BooleanEquals":true}`, want: false},
		{name: "Or", input: `{"s":"SKIPPED"}`, rule: `{"Or":[{"Variable":"$.s","StringEquals":"COMPLETED"},{"Variable":"$.s","StringEquals":"SKIPPED"}]}`, want: true},
		{name: "Or none", input: `{"s":"FAILED"}`, rule: `{"Or":[{"Variable":"$.s","StringEquals":"COMPLETED"},{"Variable":"$.s","StringEquals":"SKIPPED"}]}`, want: false},
		{name: "Or stops at the first true", input: `{"a":"x"}`, rule: `{"Or":[{"Variable":"$.a","StringEquals":"x"},{"Variable":"$.missing","StringEquals":"y"}]}`, want: true},
		{name: "context variable", input: `{}`, rule: `{"Variable":"$$.Execution.Id","StringEquals":"arn:x"}`, want: true},
		{name: "missing variable is a runtime error", input: `{}`, rule: `{"Variable":"$.verdict","StringEquals":"promote"}`, wantErr: "Invalid path '$.verdict'"},
	}
	ctxObj := decodeT(t, `{"Execution":{"Id":"arn:x"}}`)
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
		{name: "Next in a nested rule", rule: `{"Variable":"$.a","BooleanEquals":true,"Next":"X"}`, wantErr: "only in a top-level"},
		{name: "top-level without Next", rule: `{"Variable":"$.a","BooleanEquals":true}`, top: true, wantErr: "needs Next"},
		{name: "two operators", rule: `{"Variable":"$.a","StringEquals":"x","BooleanEquals":true}`, wantErr: "exactly one operator"},
		{name: "wrong operand type", rule: `{"Variable":"$.a","BooleanEquals":"true"}`, wantErr: "takes a boolean"},
		{name: "StringEquals wants a string", rule: `{"Variable":"$.a","StringEquals":1}`, wantErr: "takes a string"},
		{name: "without Variable", rule: `{"StringEquals":"x"}`, wantErr: "needs Variable"},
		{name: "Or with Variable", rule: `{"Variable":"$.a","Or":[{"Variable":"$.a","StringEquals":"x"}]}`, wantErr: "does not take Variable"},
		{name: "empty Or", rule: `{"Or":[]}`, wantErr: "non-empty array"},
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
