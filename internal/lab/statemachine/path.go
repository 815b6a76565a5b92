package statemachine

import (
	"fmt"
	"strings"
)

// A refPath is a parsed reference path: "$" or "$$" followed by dotted
// field names, the only form the project's definition uses.
// NOTE: "A reference path is a path whose syntax is limited in such a way
// that it can identify only a single node in a JSON structure: object fields
// are accessed using only dot (.) and square bracket ([ ]) notation; the
// operators @ .. , : ? * and functions such as length() aren't supported"
// (Step Functions developer guide, Paths). The lab accepts dotted field
// names only, also where AWS would accept a full JSONPath (Parameters):
// subscripts are refused at load (features.go), the JSONPath operators
// here.
type refPath struct {
	text    string
	context bool // "$$": the context object
	fields  []string
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
	if rest == "" {
		return p, nil
	}
	if rest[0] != '.' {
		return p, fmt.Errorf("path %q: unexpected %q", s, rest[:1])
	}
	for _, name := range strings.Split(rest[1:], ".") {
		if name == "" {
			if strings.Contains(rest, "..") {
				return p, unsupportedPath(s, "the deep-scan operator ..")
			}
			return p, fmt.Errorf("path %q: empty field name", s)
		}
		for _, op := range []string{"*", "@", ",", ":", "?", "(", ")", "'", `"`, " ", "[", "]"} {
			if strings.Contains(name, op) {
				return p, unsupportedPath(s, fmt.Sprintf("the operator %q", op))
			}
		}
		p.fields = append(p.fields, name)
	}
	return p, nil
}

func unsupportedPath(path, what string) error {
	return fmt.Errorf("path %q uses %s, which is not supported by the lab's Step Functions engine (only reference paths are)", path, what)
}

// get returns the node p names in v (the state's data, or the context object
// for a $$ path), and whether it exists.
func (p refPath) get(v any) (any, bool) {
	for _, f := range p.fields {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[f]; !ok {
			return nil, false
		}
	}
	return v, true
}

// set returns a copy of v with the node p names replaced by x, creating
// missing objects on the way. It fails when the path crosses a value that
// is not an object.
// NOTE: "If the ResultPath matches an item in the state's input, only that
// input item is overwritten... if it doesn't exist it is created"
// (developer guide, ResultPath); applying it to a non-object fails the state
// with States.ResultPathMatchFailure (Amazon States Language specification).
func (p refPath) set(v, x any) (any, error) {
	return setFields(v, p.fields, x, p.text)
}

func setFields(v any, fields []string, x any, text string) (any, error) {
	if len(fields) == 0 {
		return x, nil
	}
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
	child, err := setFields(m[fields[0]], fields[1:], x, text)
	if err != nil {
		return nil, err
	}
	m[fields[0]] = child
	return m, nil
}
