// Package eventbus is the local lab's EventBridge default bus: rules with
// event patterns, matched against the events the lab emits (CloudWatch
// alarm state changes), and asynchronous delivery to Lambda targets with
// EventBridge's retry policy.
//
// Patterns support what EventBridge documents for content filtering:
// exact values (strings, numbers, booleans, null), prefix and suffix (also
// with equals-ignore-case), equals-ignore-case, anything-but (values,
// prefix, suffix), exists, numeric ranges, wildcard, cidr, and $or. An
// unknown operator is refused when the rule is created, as
// PutRule does (InvalidEventPatternException).
package eventbus

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// Pattern is a compiled event pattern.
type Pattern struct {
	fields map[string]*fieldPattern
	or     []*Pattern
}

type fieldPattern struct {
	nested   *Pattern
	matchers []matcher
}

type matcher interface {
	// match is called with each value of the field (a field holding an
	// array is matched element by element); present is false when the
	// field is absent.
	match(v any, present bool) bool
}

// Compile compiles a pattern given as decoded JSON or YAML (it is
// normalised through JSON, so YAML integers become numbers).
func Compile(p map[string]any) (*Pattern, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("event pattern is empty")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	return CompileJSON(b)
}

// CompileJSON compiles a pattern from JSON.
func CompileJSON(b []byte) (*Pattern, error) {
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("event pattern: %w", err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("event pattern is empty")
	}
	return compile(p, "")
}

func compile(p map[string]any, at string) (*Pattern, error) {
	out := &Pattern{fields: map[string]*fieldPattern{}}
	for k, v := range p {
		path := strings.TrimPrefix(at+"."+k, ".")
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return nil, fmt.Errorf("%s: $or needs a list of at least two patterns", path)
			}
			for _, a := range alts {
				m, ok := a.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: each $or alternative must be an object", path)
				}
				sub, err := compile(m, at)
				if err != nil {
					return nil, err
				}
				out.or = append(out.or, sub)
			}
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			sub, err := compile(x, path)
			if err != nil {
				return nil, err
			}
			out.fields[k] = &fieldPattern{nested: sub}
		case []any:
			if len(x) == 0 {
				return nil, fmt.Errorf("%s: a value list must not be empty", path)
			}
			fp := &fieldPattern{}
			for _, e := range x {
				m, err := compileMatcher(e, path)
				if err != nil {
					return nil, err
				}
				fp.matchers = append(fp.matchers, m)
			}
			out.fields[k] = fp
		default:
			return nil, fmt.Errorf("%s: a pattern value must be a list or an object, got %v", path, v)
		}
	}
	return out, nil
}

type exact struct{ v any }

func (e exact) match(v any, present bool) bool {
	if !present {
		return false
	}
	if e.v == nil {
		return v == nil
	}
	if f, ok := e.v.(float64); ok {
		g, ok := v.(float64)
		return ok && f == g
	}
	return v == e.v
}

type stringFn struct {
	name string
	fn   func(string) bool
}

func (s stringFn) match(v any, present bool) bool {
	str, ok := v.(string)
	return present && ok && s.fn(str)
}

type existsM struct{ want bool }

func (e existsM) match(_ any, present bool) bool { return present == e.want }

type notM struct{ inner []matcher }

func (n notM) match(v any, present bool) bool {
	if !present {
		return false
	}
	for _, m := range n.inner {
		if m.match(v, true) {
			return false
		}
	}
	return true
}

type numericM struct{ conds [][2]any }

func (n numericM) match(v any, present bool) bool {
	f, ok := v.(float64)
	if !present || !ok {
		return false
	}
	for _, c := range n.conds {
		bound := c[1].(float64)
		switch c[0].(string) {
		case "=":
			ok = f == bound
		case "<":
			ok = f < bound
		case "<=":
			ok = f <= bound
		case ">":
			ok = f > bound
		case ">=":
			ok = f >= bound
		}
		if !ok {
			return false
		}
	}
	return true
}

func stringArg(v any, op, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: %s needs a string", path, op)
	}
	return s, nil
}

// caseMatcher compiles the argument of prefix/suffix: a string, or
// {"equals-ignore-case": string}.
func caseMatcher(op string, arg any, path string, test func(s, p string) bool) (matcher, error) {
	if m, ok := arg.(map[string]any); ok && len(m) == 1 {
		if p, ok := m["equals-ignore-case"].(string); ok {
			lp := strings.ToLower(p)
			return stringFn{op, func(s string) bool { return test(strings.ToLower(s), lp) }}, nil
		}
	}
	p, err := stringArg(arg, op, path)
	if err != nil {
		return nil, err
	}
	return stringFn{op, func(s string) bool { return test(s, p) }}, nil
}

func compileMatcher(e any, path string) (matcher, error) {
	obj, ok := e.(map[string]any)
	if !ok {
		switch e.(type) {
		case string, float64, bool, nil:
			return exact{e}, nil
		}
		return nil, fmt.Errorf("%s: unsupported value %v", path, e)
	}
	if len(obj) != 1 {
		return nil, fmt.Errorf("%s: a matcher object must have exactly one operator", path)
	}
	for op, arg := range obj {
		switch op {
		case "prefix":
			return caseMatcher(op, arg, path, strings.HasPrefix)
		case "suffix":
			return caseMatcher(op, arg, path, strings.HasSuffix)
		case "equals-ignore-case":
			s, err := stringArg(arg, op, path)
			if err != nil {
				return nil, err
			}
			return stringFn{op, func(v string) bool { return strings.EqualFold(v, s) }}, nil
		case "wildcard":
			s, err := stringArg(arg, op, path)
			if err != nil {
				return nil, err
			}
			return stringFn{op, func(v string) bool { return wildcard(s, v) }}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: exists needs true or false", path)
			}
			return existsM{b}, nil
		case "cidr":
			s, err := stringArg(arg, op, path)
			if err != nil {
				return nil, err
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: cidr: %w", path, err)
			}
			return stringFn{op, func(v string) bool { a, err := netip.ParseAddr(v); return err == nil && pfx.Contains(a) }}, nil
		case "numeric":
			l, ok := arg.([]any)
			if !ok || len(l) == 0 || len(l)%2 != 0 {
				return nil, fmt.Errorf("%s: numeric needs operator/value pairs", path)
			}
			var n numericM
			for i := 0; i < len(l); i += 2 {
				o, ok1 := l[i].(string)
				f, ok2 := l[i+1].(float64)
				if !ok1 || !ok2 || !slices.Contains([]string{"=", "<", "<=", ">", ">="}, o) || math.IsNaN(f) {
					return nil, fmt.Errorf("%s: numeric: bad pair %v %v", path, l[i], l[i+1])
				}
				n.conds = append(n.conds, [2]any{o, f})
			}
			return n, nil
		case "anything-but":
			var inner []matcher
			switch a := arg.(type) {
			case []any:
				for _, x := range a {
					m, err := compileMatcher(x, path)
					if err != nil {
						return nil, err
					}
					inner = append(inner, m)
				}
			case map[string]any:
				m, err := compileMatcher(a, path)
				if err != nil {
					return nil, err
				}
				if _, ok := m.(stringFn); !ok {
					return nil, fmt.Errorf("%s: anything-but takes values, prefix, suffix, equals-ignore-case or wildcard", path)
				}
				inner = []matcher{m}
			default:
				m, err := compileMatcher(a, path)
				if err != nil {
					return nil, err
				}
				inner = []matcher{m}
			}
			return notM{inner}, nil
		}
		return nil, fmt.Errorf("%s: unsupported pattern operator %q", path, op)
	}
	return nil, nil
}

// wildcard matches * (any run) against s.
func wildcard(p, s string) bool {
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// Match reports whether the event (decoded JSON) matches.
func (p *Pattern) Match(event map[string]any) bool {
	for k, fp := range p.fields {
		v, present := event[k]
		if fp.nested != nil {
			obj, ok := v.(map[string]any)
			if !ok || !fp.nested.Match(obj) {
				return false
			}
			continue
		}
		if !fp.matchField(v, present) {
			return false
		}
	}
	if len(p.or) > 0 {
		return slices.ContainsFunc(p.or, func(alt *Pattern) bool { return alt.Match(event) })
	}
	return true
}

func (fp *fieldPattern) matchField(v any, present bool) bool {
	values := []any{v}
	if arr, ok := v.([]any); ok {
		values = arr
		if len(arr) == 0 {
			present = false
		}
	}
	for _, m := range fp.matchers {
		if !present {
			if m.match(nil, false) {
				return true
			}
			continue
		}
		if _, isExists := m.(existsM); isExists {
			if m.match(v, true) {
				return true
			}
			continue
		}
		for _, x := range values {
			if m.match(x, true) {
				return true
			}
		}
	}
	return false
}
