// Package scenario reads the state machine's scenario table
// (infra/statemachine/scenarios.json) and judges an engine's trace of a
// scenario against it. The table is engine-neutral: each scenario scripts
// what every Task state's function returns or throws on each call, and
// expects the exact sequence of states entered and the final status. The
// definition tier runs it on aws-local-stepfunctions; the local lab runs the
// same table on its own engine and judges its traces with the same Check.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
)

// Table is the scenario file.
type Table struct {
	Comment []string `json:"comment"`
	// Execution is the Step Functions context object's Execution ($$.Execution):
	// Id and Name.
	Execution map[string]string `json:"execution"`
	// Tasks maps each Task state to the template logical id of the function
	// it invokes.
	Tasks map[string]string `json:"tasks"`
	// Fixtures are named function outputs that calls refer to.
	Fixtures map[string]json.RawMessage `json:"fixtures"`
	// Scenarios, in the order they run.
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one scripted execution.
type Scenario struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Input       json.RawMessage `json:"input"`
	// Tasks scripts, per Task state, each call in order. Every scripted
	// call must happen, and no other.
	Tasks  map[string][]Call `json:"tasks"`
	Expect Expect            `json:"expect"`
}

// Call is one scripted answer of a Task state's function: exactly one of
// Returns, Fixture (returns Table.Fixtures[Fixture]) or Throws. Receives,
// when set, must be a subset of the payload the function received.
type Call struct {
	Returns  json.RawMessage `json:"returns,omitempty"`
	Fixture  string          `json:"fixture,omitempty"`
	Throws   *Throw          `json:"throws,omitempty"`
	Receives json.RawMessage `json:"receives,omitempty"`
}

// Throw is a function failure: the Lambda errorType and its message.
type Throw struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// Expect is what the engine must report.
type Expect struct {
	// States is the exact sequence of states entered.
	States []string `json:"states"`
	// Status is SUCCEEDED or FAILED.
	Status string `json:"status"`
	// Error and Cause of a FAILED execution.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Waits, when set, is the exact sequence of Wait states with the
	// seconds each would have waited.
	Waits []Wait `json:"waits,omitempty"`
	// Output, when set, must be a subset of a SUCCEEDED execution's output.
	Output json.RawMessage `json:"output,omitempty"`
}

// Wait is one Wait state entered and its duration.
type Wait struct {
	State   string  `json:"state"`
	Seconds float64 `json:"seconds"`
}

// Trace is what an engine reports for one scenario.
type Trace struct {
	Name   string          `json:"name"`
	States []string        `json:"states"`
	Calls  []TraceCall     `json:"calls"`
	Waits  []Wait          `json:"waits"`
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	Output json.RawMessage `json:"output"`
}

// TraceCall is one invocation the engine made.
type TraceCall struct {
	State string `json:"state"`
	// Function is the FunctionName the Task sent (the substituted ARN).
	Function string          `json:"function"`
	Payload  json.RawMessage `json:"payload"`
}

// Load reads and checks a scenario table.
func Load(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Table
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	for _, s := range t.Scenarios {
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("scenario %q: names must be present and unique", s.Name))
		}
		seen[s.Name] = true
		for state, calls := range s.Tasks {
			if _, ok := t.Tasks[state]; !ok {
				errs = append(errs, fmt.Errorf("scenario %q: %q is not a Task state of the table", s.Name, state))
			}
			for i, c := range calls {
				n := 0
				for _, set := range []bool{c.Returns != nil, c.Fixture != "", c.Throws != nil} {
					if set {
						n++
					}
				}
				if n != 1 {
					errs = append(errs, fmt.Errorf("scenario %q: %s call %d: want exactly one of returns, fixture, throws", s.Name, state, i+1))
				}
				if _, ok := t.Fixtures[c.Fixture]; c.Fixture != "" && !ok {
					errs = append(errs, fmt.Errorf("scenario %q: %s call %d: no fixture %q", s.Name, state, i+1, c.Fixture))
				}
			}
		}
		if s.Expect.Status != "SUCCEEDED" && s.Expect.Status != "FAILED" {
			errs = append(errs, fmt.Errorf("scenario %q: expect.status %q: want SUCCEEDED or FAILED", s.Name, s.Expect.Status))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	return &t, nil
}

// Output returns what call c returns: its Returns, or its fixture.
func (t *Table) Output(c Call) json.RawMessage {
	if c.Fixture != "" {
		return t.Fixtures[c.Fixture]
	}
	return c.Returns
}

// Resolved is the table with fixtures expanded, as an engine adapter reads
// it (infra/statemachine/run-scenarios.mjs).
type Resolved struct {
	Execution     map[string]string  `json:"execution"`
	Substitutions map[string]string  `json:"substitutions"`
	Scenarios     []ResolvedScenario `json:"scenarios"`
}

// ResolvedScenario is a scenario whose calls are only returns or throws.
type ResolvedScenario struct {
	Name  string                    `json:"name"`
	Input json.RawMessage           `json:"input"`
	Tasks map[string][]ResolvedCall `json:"tasks"`
}

// ResolvedCall is {"returns": ...} or {"throws": {...}}.
type ResolvedCall struct {
	Returns json.RawMessage `json:"returns,omitempty"`
	Throws  *Throw          `json:"throws,omitempty"`
}

// Resolve expands the fixtures. substitutions are the definition's
// DefinitionSubstitutions values the engine should use.
func (t *Table) Resolve(substitutions map[string]string) Resolved {
	r := Resolved{Execution: t.Execution, Substitutions: substitutions}
	for _, s := range t.Scenarios {
		rs := ResolvedScenario{Name: s.Name, Input: s.Input, Tasks: map[string][]ResolvedCall{}}
		for state, calls := range s.Tasks {
			for _, c := range calls {
				if c.Throws != nil {
					rs.Tasks[state] = append(rs.Tasks[state], ResolvedCall{Throws: c.Throws})
				} else {
					rs.Tasks[state] = append(rs.Tasks[state], ResolvedCall{Returns: t.Output(c)})
				}
			}
		}
		r.Scenarios = append(r.Scenarios, rs)
	}
	return r
}

// Check judges a trace against the scenario. functionOf maps a FunctionName
// the engine sent back to a template logical id. It returns every
// difference, or none.
func (t *Table) Check(s Scenario, tr Trace, functionOf func(string) string) []string {
	var diffs []string
	bad := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if !slices.Equal(s.Expect.States, tr.States) {
		bad("states entered:\n  want %s\n  got  %s", strings.Join(s.Expect.States, " → "), strings.Join(tr.States, " → "))
	}
	if tr.Status != s.Expect.Status {
		bad("status: want %s, got %s (%s: %s)", s.Expect.Status, tr.Status, tr.Error, tr.Cause)
	}
	if s.Expect.Status == "FAILED" {
		if tr.Error != s.Expect.Error {
			bad("error: want %q, got %q", s.Expect.Error, tr.Error)
		}
		if tr.Cause != s.Expect.Cause {
			bad("cause:\n  want %q\n  got  %q", s.Expect.Cause, tr.Cause)
		}
	}
	if s.Expect.Waits != nil && !slices.Equal(s.Expect.Waits, tr.Waits) {
		bad("waits: want %v, got %v", s.Expect.Waits, tr.Waits)
	}
	if s.Expect.Output != nil {
		if err := Subset(s.Expect.Output, tr.Output); err != nil {
			bad("output: %v", err)
		}
	}
	made := map[string]int{}
	for _, c := range tr.Calls {
		i := made[c.State]
		made[c.State]++
		if want := t.Tasks[c.State]; functionOf(c.Function) != want {
			bad("%s invoked %q, want %s", c.State, c.Function, want)
		}
		script := s.Tasks[c.State]
		if i >= len(script) {
			bad("%s: call %d is not scripted", c.State, i+1)
			continue
		}
		if script[i].Receives != nil {
			if err := Subset(script[i].Receives, c.Payload); err != nil {
				bad("%s call %d payload: %v", c.State, i+1, err)
			}
		}
	}
	for _, state := range slices.Sorted(maps.Keys(s.Tasks)) {
		if n := len(s.Tasks[state]); made[state] < n {
			bad("%s: %d scripted call(s), %d made", state, n, made[state])
		}
	}
	return diffs
}

// Subset reports whether every member of want (recursively, for objects)
// is in got with an equal value; arrays and scalars compare whole.
func Subset(want, got json.RawMessage) error {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Errorf("want: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("got: %w", err)
	}
	return subset("$", w, g)
}

func subset(at string, w, g any) error {
	wm, ok := w.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(w, g) {
			return fmt.Errorf("%s: want %s, got %s", at, show(w), show(g))
		}
		return nil
	}
	gm, ok := g.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object, got %s", at, show(g))
	}
	for _, k := range slices.Sorted(maps.Keys(wm)) {
		gv, ok := gm[k]
		if !ok {
			return fmt.Errorf("%s.%s: missing", at, k)
		}
		if err := subset(at+"."+k, wm[k], gv); err != nil {
			return err
		}
	}
	return nil
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
