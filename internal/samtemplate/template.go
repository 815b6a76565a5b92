package samtemplate

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed CloudFormation or SAM template. Values are the
// generic JSON-like tree (map[string]any, []any, string, int, float64, bool,
// nil) with every intrinsic function in its long form: {"Ref": "X"},
// {"Fn::GetAtt": ["A", "B"]}, {"Fn::Sub": ...}, and so on.
type Template struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]map[string]any
}

// Resource is one entry of Resources.
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
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
	return t, nil
}

// Decode parses a YAML (or JSON) template into the generic tree, expanding
// the short forms of intrinsic functions (!Ref, !Sub, !GetAtt...) to their
// long form. It is the one reader of template files: the checks (Parse)
// and the local lab (internal/lab/stack) both start from it.
func Decode(b []byte) (map[string]any, error) {
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

// Parse parses a template into typed views of its sections.
func Parse(b []byte) (*Template, error) {
	root, err := Decode(b)
	if err != nil {
		return nil, err
	}
	t := &Template{
		Parameters: map[string]map[string]any{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]map[string]any{},
	}
	t.Conditions, _ = root["Conditions"].(map[string]any)
	t.Globals, _ = root["Globals"].(map[string]any)
	for k, v := range mapOf(root["Parameters"]) {
		t.Parameters[k] = mapOf(v)
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
	return t, nil
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

// FunctionEnvironment returns the environment variables a function gets:
// Globals.Function.Environment.Variables overlaid with its own.
func (t *Template) FunctionEnvironment(logicalID string) map[string]any {
	env := map[string]any{}
	for k, v := range mapOf(path(t.Globals, "Function", "Environment", "Variables")) {
		env[k] = v
	}
	r, ok := t.Resources[logicalID]
	if !ok {
		return env
	}
	for k, v := range mapOf(path(r.Properties, "Environment", "Variables")) {
		env[k] = v
	}
	return env
}

// Path walks nested maps by key.
func Path(v any, keys ...string) any { return path(v, keys...) }

func path(v any, keys ...string) any {
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
