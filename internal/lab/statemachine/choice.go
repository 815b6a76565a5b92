package statemachine

import (
	"fmt"
	"sort"
)

// A choiceRule is a Choice state's rule: Or over rules, or a data test
// (Variable with StringEquals or BooleanEquals) — the operators the
// project's definition uses; Load refuses the others (features.go). Only
// top-level rules carry Next.
type choiceRule struct {
	next string

	or []*choiceRule

	variable refPath
	op       string // "StringEquals" or "BooleanEquals"
	value    any    // the literal operand: a string or a bool
}

func parseChoiceRule(v any, top bool, where string) (*choiceRule, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a choice rule must be an object", where)
	}
	r := &choiceRule{}
	if n, ok := m["Next"]; ok {
		if !top {
			return nil, fmt.Errorf("%s: Next is allowed only in a top-level choice rule", where)
		}
		s, ok := n.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s: Next must be a state name", where)
		}
		r.next = s
	} else if top {
		return nil, fmt.Errorf("%s: a top-level choice rule needs Next", where)
	}
	var ops []string
	for k := range m {
		switch k {
		case "Next", "Comment", "Variable":
		default:
			ops = append(ops, k)
		}
	}
	sort.Strings(ops)
	if len(ops) != 1 {
		return nil, fmt.Errorf("%s: a choice rule needs exactly one operator, found %v", where, ops)
	}
	op := ops[0]
	switch op {
	case "Or":
		list, ok := m[op].([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%s: Or must be a non-empty array of choice rules", where)
		}
		if _, ok := m["Variable"]; ok {
			return nil, fmt.Errorf("%s: Or does not take Variable", where)
		}
		for i, e := range list {
			sub, err := parseChoiceRule(e, false, fmt.Sprintf("%s.Or[%d]", where, i))
			if err != nil {
				return nil, err
			}
			r.or = append(r.or, sub)
		}
		return r, nil
	case "StringEquals", "BooleanEquals":
	default:
		return nil, unsupported(where, "choice rule "+op)
	}
	vs, ok := m["Variable"].(string)
	if !ok {
		return nil, fmt.Errorf("%s: %s needs Variable (a reference path)", where, op)
	}
	variable, err := parsePath(vs, true)
	if err != nil {
		return nil, fmt.Errorf("%s: Variable: %w", where, err)
	}
	r.variable, r.op, r.value = variable, op, m[op]
	switch op {
	case "StringEquals":
		if _, ok := r.value.(string); !ok {
			return nil, fmt.Errorf("%s: StringEquals takes a string", where)
		}
	case "BooleanEquals":
		if _, ok := r.value.(bool); !ok {
			return nil, fmt.Errorf("%s: BooleanEquals takes a boolean", where)
		}
	}
	return r, nil
}

// nexts returns the states the rule can transition to.
func (r *choiceRule) nexts() []string {
	if r.next == "" {
		return nil
	}
	return []string{r.next}
}

// eval evaluates the rule against the Choice state's input.
// NOTE: a Variable that matches nothing fails the execution with
// States.Runtime (ASL specification, Choice Rules). A value of the wrong
// type makes the comparison false: "Step Functions doesn't attempt to match
// a numeric field to a string value" (developer guide, Choice Rules).
func (r *choiceRule) eval(input, ctxObj any) (bool, error) {
	if r.or != nil {
		for _, s := range r.or {
			ok, err := s.eval(input, ctxObj)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	root := input
	if r.variable.context {
		root = ctxObj
	}
	v, present := r.variable.get(root)
	if !present {
		return false, causef("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable)
	}
	switch r.op {
	case "StringEquals":
		s, ok := v.(string)
		return ok && s == r.value.(string), nil
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == r.value.(bool), nil
	}
	return false, fmt.Errorf("choice operator %s is not supported", r.op)
}
