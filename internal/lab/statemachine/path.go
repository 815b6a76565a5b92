package statemachine

import (
	"fmt"
	"strconv"
	"strings"
)

// A refPath is a parsed reference path: "$" or "$$" followed by field names
// and array indexes.
// NOTE: "A reference path is a path whose syntax is limited in such a way
// that it can identify only a single node in a JSON structure: object fields
// are accessed using only dot (.) and square bracket ([ ]) notation; the
// operators @ .. , : ? * and functions such as length() aren't supported"
// (Step Functions developer guide, Paths). The lab accepts only reference
// paths, also where AWS would accept a full JSONPath (InputPath, OutputPath,
// Parameters): the project's definition uses none, and anything else is
// refused at load.
type refPath struct {
	text    string
	context bool // "$$": the context object
	steps   []step
}

type step struct {
	field string
	index int // -1 for a field step
}

func (p refPath) String() string { return p.text }

// parsePath parses a reference path. allowContext admits "$$" paths.
func parsePath(s string, allowContext bool) (refPath, error) {
	p := refPath{text: s}
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return p, fmt.Errorf("path %q does not start with $", s)
	}
	if r, ok := strings.CutPrefix(rest, "$"); ok {
		if !allowContext {
			return p, fmt.Errorf("path %q: the context object ($$) is not allowed here", s)
		}
		p.context, rest = true, r
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" {
				if strings.HasPrefix(rest, ".") {
					return p, unsupportedPath(s, "the deep-scan operator ..")
				}
				return p, fmt.Errorf("path %q: empty field name", s)
			}
			if err := checkFieldName(s, name); err != nil {
				return p, err
			}
			p.steps = append(p.steps, step{field: name, index: -1})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: unclosed [", s)
			}
			inner := rest[1:end]
			switch {
			case len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
				name := inner[1 : len(inner)-1]
				if strings.ContainsAny(name, `'"`) {
					return p, fmt.Errorf("path %q: quotes inside a bracketed field name are not supported", s)
				}
				p.steps = append(p.steps, step{field: name, index: -1})
			default:
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 || strings.HasPrefix(inner, "+") {
					return p, unsupportedPath(s, fmt.Sprintf("the subscript [%s] (only field names and non-negative indexes)", inner))
				}
				p.steps = append(p.steps, step{index: i})
			}
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

func checkFieldName(path, name string) error {
	for _, op := range []string{"*", "@", ",", ":", "?", "(", ")", "'", `"`, " "} {
		if strings.Contains(name, op) {
			return unsupportedPath(path, fmt.Sprintf("the operator %q", op))
		}
	}
	return nil
}

func unsupportedPath(path, what string) error {
	return fmt.Errorf("path %q uses %s, which is not supported by the lab's Step Functions engine (only reference paths are)", path, what)
}

// get returns the node p names in v (the state's data, or the context object
// for a $$ path), and whether it exists.
func (p refPath) get(v any) (any, bool) {
	for _, s := range p.steps {
		if s.index < 0 {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.field]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := v.([]any)
		if !ok || s.index >= len(a) {
			return nil, false
		}
		v = a[s.index]
	}
	return v, true
}

// set returns a copy of v with the node p names replaced by x, creating
// missing objects on the way. It fails when the path crosses a value that
// is not an object (or an array, for an index step) or an index past the
// end of an array.
// NOTE: "If the ResultPath matches an item in the state's input, only that
// input item is overwritten... if it doesn't exist it is created"
// (developer guide, ResultPath); applying it to a non-object fails the state
// with States.ResultPathMatchFailure (Amazon States Language specification).
func (p refPath) set(v, x any) (any, error) {
	return setSteps(v, p.steps, x, p.text)
}

func setSteps(v any, steps []step, x any, text string) (any, error) {
	if len(steps) == 0 {
		return x, nil
	}
	s := steps[0]
	if s.index < 0 {
		var m map[string]any
		switch t := v.(type) {
		case map[string]any:
			m = make(map[string]any, len(t)+1)
			for k, e := range t {
				m[k] = e
			}
		case nil:
			// A missing (or null) intermediate object is created.
			m = map[string]any{}
		default:
			return nil, fmt.Errorf("the ResultPath %q cannot be applied: it crosses a %s", text, typeName(v))
		}
		child, err := setSteps(m[s.field], steps[1:], x, text)
		if err != nil {
			return nil, err
		}
		m[s.field] = child
		return m, nil
	}
	a, ok := v.([]any)
	if !ok || s.index >= len(a) {
		return nil, fmt.Errorf("the ResultPath %q cannot be applied: index %d is out of range", text, s.index)
	}
	c := append([]any(nil), a...)
	child, err := setSteps(c[s.index], steps[1:], x, text)
	if err != nil {
		return nil, err
	}
	c[s.index] = child
	return c, nil
}
