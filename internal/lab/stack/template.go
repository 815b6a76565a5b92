// Package stack deploys the project's SAM template into the local lab, as
// CloudFormation would: it wraps the template internal/samtemplate reads
// (parameters already bound with Template.Bind), gives the stack's
// resources the names and ARNs a deployment as StackName would have,
// evaluates the conditions, and resolves the intrinsic functions against
// parameter values, pseudo parameters and those names and ARNs. It returns
// what the lab runs — the functions with their environment, timeouts and
// EventBridge rules, the state machines with their substitutions, the
// alarms — so that none of it is written twice. The definition checks
// (infra) resolve the alarms through it too, so they see what the lab
// runs.
//
// It resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split,
// Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition and
// Fn::FindInMap. Intrinsics it cannot resolve here (Fn::ImportValue,
// Fn::GetAZs, Fn::Cidr, Fn::Transform, Fn::Base64...) are refused with an
// error naming them.
package stack

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/relayshift/relayshift/internal/samtemplate"
)

var scalarString = samtemplate.ScalarString

// resolver resolves intrinsic functions in a stack.
type resolver struct{ s *Stack }

// Resolve returns v with every intrinsic function resolved. Keys whose
// value resolves to AWS::NoValue are dropped.
func (s *Stack) Resolve(v any) (any, error) {
	r := &resolver{s: s}
	out, err := r.resolve(v)
	if errors.Is(err, errNoValue) {
		return nil, nil
	}
	return out, err
}

// Condition evaluates the named condition.
func (s *Stack) Condition(name string) (bool, error) {
	r := &resolver{s: s}
	return r.condition(name, nil)
}

// Included reports whether resource id is created, given its Condition.
func (s *Stack) Included(id string) (bool, error) {
	r, ok := s.T.Resources[id]
	if !ok {
		return false, fmt.Errorf("no resource %s", id)
	}
	if r.Condition == "" {
		return true, nil
	}
	return s.Condition(r.Condition)
}

var errNoValue = errors.New("AWS::NoValue")

func (r *resolver) resolve(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			rv, err := r.resolve(e)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, rv)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") || (k == "Condition" && isString(arg)) {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := r.resolve(e)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = rv
		}
		return out, nil
	}
	return v, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

func (r *resolver) strArg(v any, fn string) (string, error) {
	rv, err := r.resolve(v)
	if err != nil {
		return "", err
	}
	switch s := rv.(type) {
	case string:
		return s, nil
	case int, float64, bool:
		return scalarString(s), nil
	}
	return "", fmt.Errorf("%s: want a string, got %T", fn, rv)
}

func (r *resolver) listArg(v any, fn string) ([]any, error) {
	rv, err := r.resolve(v)
	if err != nil {
		return nil, err
	}
	l, ok := rv.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %T", fn, rv)
	}
	return l, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, errors.New("!Ref: want a name")
		}
		return r.ref(name)
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			res, attr, _ := strings.Cut(a, ".")
			parts = []string{res, attr}
		case []any:
			for _, p := range a {
				s, err := r.strArg(p, fn)
				if err != nil {
					return nil, err
				}
				parts = append(parts, s)
			}
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt: want [resource, attribute], got %v", arg)
		}
		return r.getAtt(parts[0], parts[1])
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, errors.New("Fn::Join: want [delimiter, list]")
		}
		delim, err := r.strArg(a[0], fn)
		if err != nil {
			return nil, err
		}
		items, err := r.listArg(a[1], fn)
		if err != nil {
			return nil, err
		}
		ss := make([]string, 0, len(items))
		for _, it := range items {
			s, err := r.strArg(it, fn)
			if err != nil {
				return nil, err
			}
			ss = append(ss, s)
		}
		return strings.Join(ss, delim), nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, errors.New("Fn::Select: want [index, list]")
		}
		is, err := r.strArg(a[0], fn)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: index %q: %w", is, err)
		}
		items, err := r.listArg(a[1], fn)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select: index %d out of range for %d items %v", i, len(items), items)
		}
		return items[i], nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, errors.New("Fn::Split: want [delimiter, string]")
		}
		delim, err := r.strArg(a[0], fn)
		if err != nil {
			return nil, err
		}
		s, err := r.strArg(a[1], fn)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, errors.New("Fn::If: want [condition, then, else]")
		}
		name, _ := a[0].(string)
		c, err := r.condition(name, nil)
		if err != nil {
			return nil, err
		}
		if c {
			return r.resolve(a[1])
		}
		return r.resolve(a[2])
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		b, err := r.boolFn(fn, arg, nil)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) < 3 {
			return nil, errors.New("Fn::FindInMap: want [map, key, key]")
		}
		var keys []string
		for _, k := range a[:3] {
			s, err := r.strArg(k, fn)
			if err != nil {
				return nil, err
			}
			keys = append(keys, s)
		}
		m1, _ := r.s.T.Mappings[keys[0]].(map[string]any)
		m2, _ := m1[keys[1]].(map[string]any)
		v, ok := m2[keys[2]]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap: %v not found", keys)
		}
		return r.resolve(v)
	}
	return nil, fmt.Errorf("%s is not supported by the relayshift lab", fn)
}

func (r *resolver) ref(name string) (any, error) {
	s := r.s
	switch name {
	case "AWS::Region":
		return s.Region, nil
	case "AWS::AccountId":
		return s.AccountID, nil
	case "AWS::StackName":
		return s.StackName, nil
	case "AWS::Partition":
		return s.partition(), nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", s.partition(), s.Region, s.AccountID, s.StackName), nil
	case "AWS::NoValue":
		return nil, errNoValue
	}
	if v, ok := s.Params[name]; ok {
		if p := s.T.Parameters[name]; strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList" {
			var out []any
			for _, e := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(e))
			}
			return out, nil
		}
		return v, nil
	}
	if _, ok := s.T.Resources[name]; !ok {
		return nil, fmt.Errorf("!Ref %s: no such parameter or resource", name)
	}
	return s.ref(name)
}

func (r *resolver) getAtt(resource, attr string) (any, error) {
	if _, ok := r.s.T.Resources[resource]; !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no such resource", resource, attr)
	}
	return r.s.getAtt(resource, attr)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) sub(arg any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, errors.New("Fn::Sub: want a string or [string, variables]")
		}
		tmpl, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			rv, err := r.resolve(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = rv
		}
	default:
		return nil, errors.New("Fn::Sub: want a string or [string, variables]")
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}" // ${!Literal}
		}
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if res, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = r.getAtt(res, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
			}
			return ""
		}
		return scalarString(v)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// condition evaluates a named condition, refusing cycles.
func (r *resolver) condition(name string, seen []string) (bool, error) {
	if slices.Contains(seen, name) {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	c, ok := r.s.T.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("condition %s: want one condition function", name)
	}
	for fn, arg := range m {
		return r.boolFn(fn, arg, append(seen, name))
	}
	return false, nil
}

func (r *resolver) boolArg(v any, seen []string) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				return r.boolFn(fn, arg, seen)
			}
		}
	}
	return false, fmt.Errorf("want a condition, got %v", v)
}

func (r *resolver) boolFn(fn string, arg any, seen []string) (bool, error) {
	switch fn {
	case "Condition":
		name, _ := arg.(string)
		return r.condition(name, seen)
	case "Fn::Equals":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return false, errors.New("Fn::Equals: want two values")
		}
		x, err := r.strArg(a[0], fn)
		if err != nil {
			return false, err
		}
		y, err := r.strArg(a[1], fn)
		if err != nil {
			return false, err
		}
		return x == y, nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		a, ok := arg.([]any)
		if !ok || len(a) == 0 {
			return false, fmt.Errorf("%s: want a list of conditions", fn)
		}
		var vals []bool
		for _, e := range a {
			b, err := r.boolArg(e, seen)
			if err != nil {
				return false, fmt.Errorf("%s: %w", fn, err)
			}
			vals = append(vals, b)
		}
		switch fn {
		case "Fn::Not":
			return !vals[0], nil
		case "Fn::And":
			return !slices.Contains(vals, false), nil
		}
		return slices.Contains(vals, true), nil
	}
	return false, fmt.Errorf("%s is not a condition function", fn)
}
