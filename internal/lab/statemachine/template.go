package statemachine

import (
	"fmt"
	"sort"
	"strings"
)

// A template is a compiled payload template (Parameters, ResultSelector):
// a JSON value whose object fields ending in ".$" are replaced by the value
// of a path or an intrinsic function.
// NOTE: "For key-value pairs where the value is selected using a path, the
// key name must end in .$" (developer guide, Parameters); nested objects
// and arrays are templates too (ASL specification, Payload Template).
type template struct {
	kind   int // tplLiteral, tplObject, tplArray
	lit    any
	fields []tplField
	items  []*template
}

const (
	tplLiteral = iota
	tplObject
	tplArray
)

type tplField struct {
	name string
	// exactly one of:
	value *template
	path  *refPath
	call  *intrinsic
}

// compileTemplate compiles v.
func compileTemplate(v any, where string) (*template, error) {
	switch t := v.(type) {
	case map[string]any:
		out := &template{kind: tplObject}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		seen := map[string]bool{}
		for _, k := range keys {
			name, dynamic := strings.CutSuffix(k, ".$")
			if seen[name] {
				return nil, fmt.Errorf("%s: the field %q appears both with and without .$", where, name)
			}
			seen[name] = true
			f := tplField{name: name}
			if !dynamic {
				sub, err := compileTemplate(t[k], where+"."+k)
				if err != nil {
					return nil, err
				}
				f.value = sub
				out.fields = append(out.fields, f)
				continue
			}
			s, ok := t[k].(string)
			if !ok {
				return nil, fmt.Errorf("%s: the value of %q must be a path or an intrinsic function, not a %s", where, k, typeName(t[k]))
			}
			if isIntrinsic(s) {
				c, err := parseIntrinsic(s)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", where, k, err)
				}
				f.call = c
			} else {
				p, err := parsePath(s, true)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", where, k, err)
				}
				f.path = &p
			}
			out.fields = append(out.fields, f)
		}
		return out, nil
	case []any:
		out := &template{kind: tplArray}
		for i, e := range t {
			sub, err := compileTemplate(e, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, sub)
		}
		return out, nil
	}
	return &template{kind: tplLiteral, lit: v}, nil
}

// eval builds the payload from data (the effective input, or the task's
// result for ResultSelector) and the context object.
func (t *template) eval(data, ctxObj any) (any, error) {
	switch t.kind {
	case tplObject:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			switch {
			case f.value != nil:
				v, err := f.value.eval(data, ctxObj)
				if err != nil {
					return nil, err
				}
				out[f.name] = v
			case f.path != nil:
				root := data
				if f.path.context {
					root = ctxObj
				}
				v, ok := f.path.get(root)
				if !ok {
					return nil, causef("The JSONPath '%s' specified for the field '%s.$' could not be found in the input '%s'", f.path, f.name, encodeJSON(root))
				}
				out[f.name] = v
			default:
				v, err := f.call.eval(data, ctxObj)
				if err != nil {
					return nil, causef("The value for the field '%s.$' could not be evaluated: %v", f.name, err)
				}
				out[f.name] = v
			}
		}
		return out, nil
	case tplArray:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(data, ctxObj)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return t.lit, nil
}

// staticString returns the template's value when it is a literal string.
func (t *template) staticString() (string, bool) {
	if t == nil || t.kind != tplLiteral {
		return "", false
	}
	s, ok := t.lit.(string)
	return s, ok
}
