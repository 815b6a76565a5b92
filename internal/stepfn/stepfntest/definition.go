package stepfntest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// Definition is what a Script checks a scenario against: the states of an
// Amazon States Language definition (JSONPath query language), as far as
// they say which states follow which and what each writes into the state
// document. Load the real one (infra/statemachine/deploy.asl.json) with
// LoadDefinition and set it on the Server: every scripted state must then
// exist, be entered only from a state that can lead to it, and write what
// the definition writes.
type Definition struct {
	StartAt string           `json:"StartAt"`
	States  map[string]State `json:"States"`
}

// State is one state of a Definition: the fields a Script checks.
type State struct {
	Type    string `json:"Type"`
	Next    string `json:"Next"`
	Default string `json:"Default"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		ResultPath  string   `json:"ResultPath"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
	// Parameters of a Task name the function (FunctionName); those of a
	// Pass state are its result.
	Parameters     map[string]json.RawMessage `json:"Parameters"`
	Result         json.RawMessage            `json:"Result"`
	ResultSelector map[string]json.RawMessage `json:"ResultSelector"`
	ResultPath     string                     `json:"ResultPath"`
	Seconds        *int                       `json:"Seconds"`
	SecondsPath    string                     `json:"SecondsPath"`
	// Error and CausePath of a Fail state.
	Error     string `json:"Error"`
	Cause     string `json:"Cause"`
	CausePath string `json:"CausePath"`
}

// LoadDefinition reads an ASL definition.
func LoadDefinition(path string) (*Definition, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Definition
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := d.States[d.StartAt]; !ok {
		return nil, fmt.Errorf("%s: StartAt %q is not a state", path, d.StartAt)
	}
	return &d, nil
}

// Successors returns the states state can hand over to: Next, a Choice's
// branches and Default, and its Catch targets.
func (d *Definition) Successors(state string) []string {
	s := d.States[state]
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(s.Next)
	for _, c := range s.Choices {
		add(c.Next)
	}
	add(s.Default)
	for _, c := range s.Catch {
		add(c.Next)
	}
	return out
}

// Key returns the state document key a ResultPath of the form "$.key"
// names.
func Key(resultPath string) (string, error) {
	k, ok := strings.CutPrefix(resultPath, "$.")
	if !ok || k == "" || strings.ContainsAny(k, ".[]*") {
		return "", fmt.Errorf("ResultPath %q: the fake supports $.<key> only", resultPath)
	}
	return k, nil
}

// Select applies a Task state's ResultSelector to what the Lambda invoke
// integration returns for payload ({"Payload": payload, ...}): each entry
// "name.$": "$.Payload.field" keeps field under name. A selector path that
// names a field the payload lacks is an error, as it is on AWS
// (States.Runtime); so is any path other than $.Payload.<field>, which the
// fake does not evaluate.
func (d *Definition) Select(state string, payload []byte) (json.RawMessage, error) {
	s, ok := d.States[state]
	if !ok || s.Type != "Task" {
		return nil, fmt.Errorf("%q is not a Task state of the definition", state)
	}
	if s.ResultSelector == nil {
		return payload, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, fmt.Errorf("state %q: the payload is not a JSON object: %w", state, err)
	}
	out := map[string]json.RawMessage{}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(s.ResultSelector)) {
		v := s.ResultSelector[name]
		key, ok := strings.CutSuffix(name, ".$")
		if !ok {
			out[name] = v // a static value
			continue
		}
		var path string
		if err := json.Unmarshal(v, &path); err != nil {
			return nil, fmt.Errorf("state %q: ResultSelector %q is not a path", state, name)
		}
		field, ok := strings.CutPrefix(path, "$.Payload.")
		if !ok || strings.ContainsAny(field, ".[]*") {
			return nil, fmt.Errorf("state %q: ResultSelector %q: %q is not $.Payload.<field>, which the fake does not evaluate", state, name, path)
		}
		val, ok := fields[field]
		if !ok {
			missing = append(missing, field)
			continue
		}
		out[key] = val
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("state %q: its ResultSelector reads fields the function's output lacks (States.Runtime on AWS): %s",
			state, strings.Join(missing, ", "))
	}
	return json.Marshal(out)
}

// FunctionName returns the function a Task state invokes, with the
// template's substitution stripped: "${ShiftFunctionArn}" -> "ShiftFunction".
func (s State) FunctionName() string {
	var fn string
	_ = json.Unmarshal(s.Parameters["FunctionName"], &fn)
	fn = strings.TrimSuffix(strings.TrimPrefix(fn, "${"), "}")
	return strings.TrimSuffix(fn, "Arn")
}

// catches reports whether a Catch of s matches errName, and the
// ResultPath it records the error under.
func (s State) catches(errName string) (resultPath string, ok bool) {
	for _, c := range s.Catch {
		if slices.Contains(c.ErrorEquals, errName) || slices.Contains(c.ErrorEquals, "States.ALL") {
			return c.ResultPath, true
		}
	}
	return "", false
}

// pathValue resolves a reference path of the form $.a.b in doc.
func pathValue(doc map[string]json.RawMessage, path string) (json.RawMessage, bool) {
	rest, ok := strings.CutPrefix(path, "$.")
	if !ok {
		return nil, false
	}
	parts := strings.Split(rest, ".")
	cur := doc
	for i, p := range parts {
		v, ok := cur[p]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return v, true
		}
		cur = nil
		if json.Unmarshal(v, &cur) != nil {
			return nil, false
		}
	}
	return nil, false
}
