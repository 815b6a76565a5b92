// Package stack deploys the project's SAM template (template.yaml) into the
// local lab, as CloudFormation would: it binds and checks the parameters,
// evaluates the conditions, resolves the intrinsic functions against
// parameter values, pseudo parameters and the names and ARNs the stack's
// resources get, and returns what the lab runs — the functions with their
// environment, the EventBridge rules, the state machines with their
// substitutions, the alarms — so that none of it is written twice.
//
// (internal/samtemplate reads the same template for the definition checks,
// unresolved; this package resolves it.)
//
// It parses YAML with CloudFormation's short-form tags (!Ref, !Sub,
// !GetAtt, !Join, !Select, !Split, !If, !Equals, !Not, !And, !Or,
// !FindInMap, !Base64, !Condition) and resolves those intrinsic functions
// with parameter values, pseudo parameters and the lab's own resource
// names and ARNs. Intrinsics it cannot resolve here (!ImportValue,
// !GetAZs, !Cidr, !Transform) are refused with an error naming them.
package stack

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/relayshift/relayshift/internal/samtemplate"
)

// Template is a parsed SAM template.
type Template struct {
	// Dir is the directory the template was read from (relative URIs such
	// as DefinitionUri are resolved from it).
	Dir        string
	Parameters map[string]Parameter
	Conditions map[string]any
	Mappings   map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
}

// Parameter is a template parameter.
type Parameter struct {
	Type           string
	Default        *string
	AllowedValues  []string
	AllowedPattern string
	Description    string
}

// Resource is a template resource; Properties are unresolved.
type Resource struct {
	Type       string
	Condition  string
	Properties map[string]any
	Metadata   map[string]any
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Dir = filepath.Dir(path)
	return t, nil
}

// Parse parses a template (YAML or JSON).
func Parse(b []byte) (*Template, error) {
	doc, err := samtemplate.Decode(b)
	if err != nil {
		return nil, err
	}
	t := &Template{Parameters: map[string]Parameter{}, Resources: map[string]Resource{}}
	t.Conditions, _ = doc["Conditions"].(map[string]any)
	t.Mappings, _ = doc["Mappings"].(map[string]any)
	t.Globals, _ = doc["Globals"].(map[string]any)
	t.Outputs, _ = doc["Outputs"].(map[string]any)
	params, _ := doc["Parameters"].(map[string]any)
	for name, raw := range params {
		m, _ := raw.(map[string]any)
		p := Parameter{Type: str(m["Type"]), AllowedPattern: str(m["AllowedPattern"]), Description: str(m["Description"])}
		if d, ok := m["Default"]; ok {
			s := scalarString(d)
			p.Default = &s
		}
		if av, ok := m["AllowedValues"].([]any); ok {
			for _, v := range av {
				p.AllowedValues = append(p.AllowedValues, scalarString(v))
			}
		}
		t.Parameters[name] = p
	}
	res, _ := doc["Resources"].(map[string]any)
	if len(res) == 0 {
		return nil, errors.New("the template has no Resources")
	}
	for id, raw := range res {
		m, _ := raw.(map[string]any)
		r := Resource{Type: str(m["Type"]), Condition: str(m["Condition"])}
		r.Properties, _ = m["Properties"].(map[string]any)
		r.Metadata, _ = m["Metadata"].(map[string]any)
		if r.Properties == nil {
			r.Properties = map[string]any{}
		}
		t.Resources[id] = r
	}
	return t, nil
}

func str(v any) string { s, _ := v.(string); return s }

// scalarString renders a scalar as CloudFormation passes parameter values:
// a string.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Env is what intrinsic functions resolve against.
type Env struct {
	// Params holds the parameter values (defaults applied by Bind).
	Params map[string]string
	// Region, AccountID, StackName, Partition are the pseudo parameters.
	Region, AccountID, StackName, Partition string
	// Ref returns what Ref of a resource gives (its name, ARN, URL...).
	Ref func(logicalID string, r Resource) (string, error)
	// GetAtt returns a resource attribute.
	GetAtt func(logicalID string, r Resource, attr string) (string, error)
}

// Bind checks values against the template's parameters (unknown names,
// missing values without defaults, AllowedValues, AllowedPattern) and
// returns every parameter's value.
func (t *Template) Bind(values map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for name := range values {
		if _, ok := t.Parameters[name]; !ok {
			errs = append(errs, fmt.Errorf("parameter %s: the template has no such parameter", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Parameters)) {
		p := t.Parameters[name]
		v, ok := values[name]
		if !ok {
			if p.Default == nil {
				errs = append(errs, fmt.Errorf("parameter %s: no value and no default", name))
				continue
			}
			v = *p.Default
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
			errs = append(errs, fmt.Errorf("parameter %s: %q is not one of %v", name, v, p.AllowedValues))
		}
		if p.AllowedPattern != "" {
			re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
			if err == nil && !re.MatchString(v) {
				errs = append(errs, fmt.Errorf("parameter %s: %q does not match %s", name, v, p.AllowedPattern))
			}
		}
		if p.Type == "Number" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				errs = append(errs, fmt.Errorf("parameter %s: %q is not a number", name, v))
			}
		}
		out[name] = v
	}
	return out, errors.Join(errs...)
}

// resolver resolves intrinsic functions.
type resolver struct {
	t   *Template
	env Env
}

// Resolve returns v with every intrinsic function resolved. Keys whose
// value resolves to AWS::NoValue are dropped.
func (t *Template) Resolve(v any, env Env) (any, error) {
	r := &resolver{t: t, env: env}
	out, err := r.resolve(v)
	if errors.Is(err, errNoValue) {
		return nil, nil
	}
	return out, err
}

// Condition evaluates the named condition.
func (t *Template) Condition(name string, env Env) (bool, error) {
	r := &resolver{t: t, env: env}
	return r.condition(name, nil)
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
		m1, _ := r.t.Mappings[keys[0]].(map[string]any)
		m2, _ := m1[keys[1]].(map[string]any)
		v, ok := m2[keys[2]]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap: %v not found", keys)
		}
		return r.resolve(v)
	case "Fn::Base64":
		return nil, errors.New("Fn::Base64 is not needed by the lab")
	}
	return nil, fmt.Errorf("%s is not supported by the relayshift lab", fn)
}

func (r *resolver) ref(name string) (any, error) {
	switch name {
	case "AWS::Region":
		return r.env.Region, nil
	case "AWS::AccountId":
		return r.env.AccountID, nil
	case "AWS::StackName":
		return r.env.StackName, nil
	case "AWS::Partition":
		return r.partition(), nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", r.partition(), r.env.Region, r.env.AccountID, r.env.StackName), nil
	case "AWS::NoValue":
		return nil, errNoValue
	}
	if v, ok := r.env.Params[name]; ok {
		if p := r.t.Parameters[name]; strings.HasPrefix(p.Type, "List<") || p.Type == "CommaDelimitedList" {
			var out []any
			for _, s := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(s))
			}
			return out, nil
		}
		return v, nil
	}
	res, ok := r.t.Resources[name]
	if !ok {
		return nil, fmt.Errorf("!Ref %s: no such parameter or resource", name)
	}
	if r.env.Ref == nil {
		return nil, fmt.Errorf("!Ref %s: resource references are not resolvable here", name)
	}
	return r.env.Ref(name, res)
}

func (r *resolver) partition() string {
	if r.env.Partition == "" {
		return "aws"
	}
	return r.env.Partition
}

func (r *resolver) getAtt(resource, attr string) (any, error) {
	res, ok := r.t.Resources[resource]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no such resource", resource, attr)
	}
	if r.env.GetAtt == nil {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: not resolvable here", resource, attr)
	}
	return r.env.GetAtt(resource, res, attr)
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
	c, ok := r.t.Conditions[name]
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

// Included reports whether resource id is created, given its Condition.
func (t *Template) Included(id string, env Env) (bool, error) {
	r, ok := t.Resources[id]
	if !ok {
		return false, fmt.Errorf("no resource %s", id)
	}
	if r.Condition == "" {
		return true, nil
	}
	return t.Condition(r.Condition, env)
}

// ResourcesOfType returns the logical ids of the resources of a type,
// sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	var out []string
	for id, r := range t.Resources {
		if r.Type == typ {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
