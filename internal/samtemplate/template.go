package samtemplate

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

	"go.yaml.in/yaml/v3"
)

// Template is a parsed CloudFormation or SAM template. Values are the
// generic JSON-like tree (map[string]any, []any, string, int, float64, bool,
// nil) with every intrinsic function in its long form: {"Ref": "X"},
// {"Fn::GetAtt": ["A", "B"]}, {"Fn::Sub": ...}, and so on.
type Template struct {
	// Dir is the directory the template was read from (relative URIs such
	// as a state machine's DefinitionUri are resolved from it); "" when
	// parsed from bytes.
	Dir        string
	Parameters map[string]Parameter
	Conditions map[string]any
	Mappings   map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]map[string]any
}

// Parameter is one entry of Parameters. Values are strings, as
// CloudFormation passes parameter values.
type Parameter struct {
	Type string
	// Default is nil when the parameter has none (a value is required).
	Default        *string
	AllowedValues  []string
	AllowedPattern string
	Description    string
	// NoEcho, MinLength and MaxLength are as declared (nil lengths: none).
	NoEcho               bool
	MinLength, MaxLength *int
}

// Resource is one entry of Resources; Properties are unresolved.
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) { return Read(os.ReadFile, path) }

// Read reads the template at path with read (os.ReadFile, or a test's
// stand-in) and parses it; Dir is path's directory.
func Read(read func(string) ([]byte, error), path string) (*Template, error) {
	b, err := read(path)
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

// Parse parses a YAML (or JSON) template, expanding the short forms of
// intrinsic functions (!Ref, !Sub, !GetAtt...) to their long form. A
// template must have Resources, as CloudFormation requires.
func Parse(b []byte) (*Template, error) {
	root, err := decode(b)
	if err != nil {
		return nil, err
	}
	t := &Template{
		Parameters: map[string]Parameter{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]map[string]any{},
	}
	t.Conditions, _ = root["Conditions"].(map[string]any)
	t.Mappings, _ = root["Mappings"].(map[string]any)
	t.Globals, _ = root["Globals"].(map[string]any)
	for k, v := range mapOf(root["Parameters"]) {
		m := mapOf(v)
		p := Parameter{}
		p.Type, _ = m["Type"].(string)
		p.AllowedPattern, _ = m["AllowedPattern"].(string)
		p.NoEcho, _ = m["NoEcho"].(bool)
		p.Description, _ = m["Description"].(string)
		for k, dst := range map[string]**int{"MinLength": &p.MinLength, "MaxLength": &p.MaxLength} {
			if n, ok := m[k].(int); ok {
				*dst = &n
			}
		}
		if d, ok := m["Default"]; ok {
			s := ScalarString(d)
			p.Default = &s
		}
		if av, ok := m["AllowedValues"].([]any); ok {
			for _, v := range av {
				p.AllowedValues = append(p.AllowedValues, ScalarString(v))
			}
		}
		t.Parameters[k] = p
	}
	for k, v := range mapOf(root["Outputs"]) {
		t.Outputs[k] = mapOf(v)
	}
	for id, v := range mapOf(root["Resources"]) {
		m := mapOf(v)
		typ, _ := m["Type"].(string)
		cond, _ := m["Condition"].(string)
		t.Resources[id] = Resource{
			LogicalID: id, Type: typ, Condition: cond,
			Properties: mapOf(m["Properties"]), Metadata: mapOf(m["Metadata"]),
		}
	}
	if len(t.Resources) == 0 {
		return nil, errors.New("the template has no Resources")
	}
	return t, nil
}

// ScalarString renders a scalar as CloudFormation passes parameter values
// and substitutes it into strings: 5 as "5", 2.5 as "2.5", true as "true".
func ScalarString(v any) string {
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

// Bind checks values against the template's parameters (unknown names,
// missing values without defaults, AllowedValues, AllowedPattern, Number)
// and returns every parameter's value, defaults applied.
func (t *Template) Bind(values map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(values)) {
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

// ParametersFromEnvironment maps environment values (RELAYSHIFT_*) to the
// template's parameters through the functions' environment: a variable
// set to !Ref <Parameter> (in Globals or a function) gives that parameter
// the value. This way the local lab needs no list of parameter names.
func (t *Template) ParametersFromEnvironment(values map[string]string) map[string]string {
	out := map[string]string{}
	for _, r := range t.OfType("AWS::Serverless::Function") {
		for k, v := range t.FunctionEnvironment(r.LogicalID) {
			p, ok := Path(v, "Ref").(string)
			if _, isParam := t.Parameters[p]; !ok || !isParam {
				continue
			}
			if val, ok := values[k]; ok {
				out[p] = val
			}
		}
	}
	return out
}

// OfType returns the resources of type typ, sorted by logical id.
func (t *Template) OfType(typ string) []Resource {
	var out []Resource
	for _, id := range slices.Sorted(maps.Keys(t.Resources)) {
		if r := t.Resources[id]; r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// decode parses YAML (or JSON) into the generic tree, expanding the short
// forms of intrinsic functions to their long form.
func decode(b []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("empty template")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	return root, nil
}

// Path walks nested maps by key; nil when a key is missing.
func Path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// intrinsic maps a short-form tag to the long-form key.
var intrinsic = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!Join": "Fn::Join", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
	"!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!ImportValue": "Fn::ImportValue", "!GetAZs": "Fn::GetAZs", "!Cidr": "Fn::Cidr",
	"!ToJsonString": "Fn::ToJsonString", "!Length": "Fn::Length", "!Transform": "Fn::Transform",
}

func convert(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not allowed in CloudFormation templates", n.Line)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			val, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!!") || n.Tag == "" {
			var x any
			if err := n.Decode(&x); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return x, nil
		}
		v = n.Value
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if n.Tag == "" || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	key, ok := intrinsic[n.Tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	if n.Tag == "!GetAtt" {
		if s, isString := v.(string); isString {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
	}
	return map[string]any{key: v}, nil
}
