package samtemplate

import (
	"fmt"
	"slices"
)

// Statement is one IAM policy statement of a function's Policies.
type Statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []any
	// Condition names the template condition that guards the statement
	// or its policy document (Fn::If with AWS::NoValue), or is empty.
	Condition string
}

// Statements returns the inline policy statements of a function's (or
// state machine's) Policies. Anything else in Policies — a managed policy
// name, a SAM policy template — is an error: the checks must see every
// action granted.
func (t *Template) Statements(logicalID string) ([]Statement, error) {
	r, ok := t.Resources[logicalID]
	if !ok {
		return nil, fmt.Errorf("no resource %s", logicalID)
	}
	var out []Statement
	items, _ := r.Properties["Policies"].([]any)
	for i, item := range items {
		docCond := ""
		if f, ok := Path(item, "Fn::If").([]any); ok && len(f) == 3 {
			docCond, _ = f[0].(string)
			item = f[1]
		}
		doc, ok := item.(map[string]any)
		if !ok || doc["Statement"] == nil || len(doc) != 1 {
			return nil, fmt.Errorf("%s: Policies[%d] is not an inline policy document ({Statement: [...]})", logicalID, i)
		}
		stmts, _ := doc["Statement"].([]any)
		for j, raw := range stmts {
			cond := docCond
			if f, ok := Path(raw, "Fn::If").([]any); ok && len(f) == 3 {
				cond, _ = f[0].(string)
				raw = f[1]
			}
			m, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: Policies[%d].Statement[%d] is not a statement", logicalID, i, j)
			}
			s := Statement{Condition: cond}
			s.Sid, _ = m["Sid"].(string)
			s.Effect, _ = m["Effect"].(string)
			s.Actions = strings1(m["Action"])
			switch res := m["Resource"].(type) {
			case []any:
				s.Resources = res
			case nil:
			default:
				s.Resources = []any{res}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Actions returns the sorted, distinct actions the Allow statements grant.
func Actions(stmts []Statement) []string {
	var out []string
	for _, s := range stmts {
		if s.Effect == "Allow" {
			out = append(out, s.Actions...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func strings1(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// FunctionEnvironment returns the environment variables a function gets,
// unresolved: Globals.Function.Environment.Variables overlaid with its own.
func (t *Template) FunctionEnvironment(logicalID string) map[string]any {
	env := map[string]any{}
	for k, v := range mapOf(Path(t.Globals, "Function", "Environment", "Variables")) {
		env[k] = v
	}
	for k, v := range mapOf(Path(t.Resources[logicalID].Properties, "Environment", "Variables")) {
		env[k] = v
	}
	return env
}

// FunctionProperty returns a function's property that SAM's Globals may
// set (Timeout, MemorySize...), unresolved: its own, else
// Globals.Function's, else nil.
// NOTE: SAM's Globals: a function's own value of a scalar property
// replaces the global one; maps such as Environment.Variables are merged
// (FunctionEnvironment).
func (t *Template) FunctionProperty(logicalID, name string) any {
	if v, ok := t.Resources[logicalID].Properties[name]; ok {
		return v
	}
	return Path(t.Globals, "Function", name)
}

// EventBridgeRules returns the Properties of a function's EventBridge rule
// events (Type EventBridgeRule, or CloudWatchEvent, its older name), by
// event name, unresolved.
func (t *Template) EventBridgeRules(logicalID string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, ev := range mapOf(Path(t.Resources[logicalID].Properties, "Events")) {
		m := mapOf(ev)
		if m["Type"] == "EventBridgeRule" || m["Type"] == "CloudWatchEvent" {
			out[name] = mapOf(m["Properties"])
		}
	}
	return out
}
