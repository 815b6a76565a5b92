package statemachine

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
)

// A choiceRule is a Choice state's rule: a boolean expression (And, Or,
// Not) or a data-test expression (Variable and one comparison operator).
// Only top-level rules carry Next.
type choiceRule struct {
	next string

	and, or []*choiceRule
	not     *choiceRule

	variable refPath
	op       string  // e.g. "StringEquals", "NumericLessThanPath", "IsPresent"
	value    any     // the literal operand (string, json.Number, bool, or time for Timestamp*)
	path     refPath // the operand of a ...Path operator
	byPath   bool
}

// comparators lists the data-test operators and the JSON type of their
// literal operand.
// NOTE: the operators of the JSONPath Choice state (developer guide, Choice
// workflow state; ASL specification, Choice Rules). Every one also exists
// with a Path suffix taking a reference path, except StringMatches and the
// Is* type tests.
var comparators = map[string]string{
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
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
		case "Condition":
			return nil, unsupported(where, "Condition (JSONata choice rules)")
		case "Assign", "Output":
			return nil, unsupported(where, k+" (variables and JSONata)")
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
	case "And", "Or":
		list, ok := m[op].([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%s: %s must be a non-empty array of choice rules", where, op)
		}
		if _, ok := m["Variable"]; ok {
			return nil, fmt.Errorf("%s: %s does not take Variable", where, op)
		}
		for i, e := range list {
			sub, err := parseChoiceRule(e, false, fmt.Sprintf("%s.%s[%d]", where, op, i))
			if err != nil {
				return nil, err
			}
			if op == "And" {
				r.and = append(r.and, sub)
			} else {
				r.or = append(r.or, sub)
			}
		}
		return r, nil
	case "Not":
		if _, ok := m["Variable"]; ok {
			return nil, fmt.Errorf("%s: Not does not take Variable", where)
		}
		sub, err := parseChoiceRule(m["Not"], false, where+".Not")
		if err != nil {
			return nil, err
		}
		r.not = sub
		return r, nil
	}
	base, byPath := strings.CutSuffix(op, "Path")
	kind, known := comparators[base]
	if !known || (byPath && (base == "StringMatches" || strings.HasPrefix(base, "Is"))) {
		kind, known = comparators[op]
		base, byPath = op, false
	}
	if !known {
		return nil, unsupported(where, fmt.Sprintf("the choice operator %s", op))
	}
	vs, ok := m["Variable"].(string)
	if !ok {
		return nil, fmt.Errorf("%s: %s needs Variable (a reference path)", where, op)
	}
	variable, err := parsePath(vs, true)
	if err != nil {
		return nil, fmt.Errorf("%s: Variable: %w", where, err)
	}
	r.variable, r.op, r.byPath = variable, base, byPath
	operand := m[op]
	if byPath {
		s, ok := operand.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be a reference path", where, op)
		}
		if r.path, err = parsePath(s, true); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, op, err)
		}
		return r, nil
	}
	switch kind {
	case "string":
		if _, ok := operand.(string); !ok {
			return nil, fmt.Errorf("%s: %s takes a string", where, op)
		}
	case "number":
		if _, ok := number(operand); !ok {
			return nil, fmt.Errorf("%s: %s takes a number", where, op)
		}
	case "boolean":
		if _, ok := operand.(bool); !ok {
			return nil, fmt.Errorf("%s: %s takes a boolean", where, op)
		}
	case "timestamp":
		s, _ := operand.(string)
		t, ok := parseTimestamp(s)
		if !ok {
			return nil, fmt.Errorf("%s: %s takes a timestamp (RFC 3339, uppercase T and Z)", where, op)
		}
		operand = t
	}
	r.value = operand
	return r, nil
}

// nexts returns the states the rule can transition to.
func (r *choiceRule) nexts() []string {
	if r.next == "" {
		return nil
	}
	return []string{r.next}
}

// eval evaluates the rule against the Choice state's effective input.
// NOTE: a Variable (or a ...Path operand) that matches nothing fails the
// execution with States.Runtime, except for IsPresent (ASL specification:
// "if the Variable-field Path fails to match anything in the input, no
// exception is thrown and the choice rule just returns false" only for
// IsPresent). A value of the wrong type makes the comparison false: "Step
// Functions doesn't attempt to match a numeric field to a string value"
// (developer guide, Choice Rules).
func (r *choiceRule) eval(input, ctxObj any) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.eval(input, ctxObj)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.eval(input, ctxObj)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(input, ctxObj)
		return !ok, err
	}
	root := input
	if r.variable.context {
		root = ctxObj
	}
	v, present := r.variable.get(root)
	if r.op == "IsPresent" {
		return present == r.value.(bool), nil
	}
	if !present {
		return false, causef("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable)
	}
	operand := r.value
	if r.byPath {
		root := input
		if r.path.context {
			root = ctxObj
		}
		o, ok := r.path.get(root)
		if !ok {
			return false, causef("Invalid path '%s': The choice state's condition path references an invalid value.", r.path)
		}
		operand = o
	}
	switch r.op {
	case "IsNull":
		return (v == nil) == r.value.(bool), nil
	case "IsNumeric":
		_, ok := number(v)
		return ok == r.value.(bool), nil
	case "IsString":
		_, ok := v.(string)
		return ok == r.value.(bool), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == r.value.(bool), nil
	case "IsTimestamp":
		s, _ := v.(string)
		_, ok := parseTimestamp(s)
		return ok == r.value.(bool), nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && stringMatches(s, operand.(string)), nil
	case "BooleanEquals":
		b, ok := v.(bool)
		o, okO := operand.(bool)
		return ok && okO && b == o, nil
	}
	switch {
	case strings.HasPrefix(r.op, "String"):
		s, ok := v.(string)
		o, okO := operand.(string)
		if !ok || !okO {
			return false, nil
		}
		return compareResult(r.op, "String", compareUTF16(s, o)), nil
	case strings.HasPrefix(r.op, "Numeric"):
		x, ok := number(v)
		y, okO := number(operand)
		if !ok || !okO {
			return false, nil
		}
		c := 0
		if x < y {
			c = -1
		} else if x > y {
			c = 1
		}
		return compareResult(r.op, "Numeric", c), nil
	case strings.HasPrefix(r.op, "Timestamp"):
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		x, ok := parseTimestamp(s)
		if !ok {
			return false, nil
		}
		var y time.Time
		switch o := operand.(type) {
		case time.Time:
			y = o
		case string:
			if y, ok = parseTimestamp(o); !ok {
				return false, nil
			}
		default:
			return false, nil
		}
		return compareResult(r.op, "Timestamp", x.Compare(y)), nil
	}
	return false, fmt.Errorf("choice operator %s is not supported", r.op)
}

func compareResult(op, prefix string, c int) bool {
	switch strings.TrimPrefix(op, prefix) {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// compareUTF16 compares strings as Java's String.compareTo does: by UTF-16
// code units.
// NOTE: "To understand the behavior of string comparisons, see the Java
// compareTo documentation" (developer guide, Choice Rules). Go compares
// UTF-8 bytes, which orders supplementary characters differently.
func compareUTF16(a, b string) int {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(x) < len(y):
		return -1
	case len(x) > len(y):
		return 1
	}
	return 0
}

// stringMatches matches s against a StringMatches pattern.
// NOTE: "*" matches zero or more characters; "\\*" is a literal asterisk and
// "\\\\" a literal backslash; no other character is special (ASL
// specification, StringMatches).
func stringMatches(s, pattern string) bool {
	type tok struct {
		star bool
		ch   rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '\\'):
			toks = append(toks, tok{ch: rs[i+1]})
			i++
		case rs[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{ch: rs[i]})
		}
	}
	in := []rune(s)
	// Classic wildcard matching with backtracking on the last star.
	ti, si, starT, starS := 0, 0, -1, 0
	for si < len(in) {
		switch {
		case ti < len(toks) && !toks[ti].star && toks[ti].ch == in[si]:
			ti++
			si++
		case ti < len(toks) && toks[ti].star:
			starT, starS = ti, si
			ti++
		case starT >= 0:
			starS++
			ti, si = starT+1, starS
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}

// parseTimestamp parses an ASL timestamp.
// NOTE: timestamps "must conform to RFC3339 profile ISO 8601, with further
// restrictions: an uppercase T must separate the date and time portions, and
// an uppercase Z must denote that a numeric time zone offset isn't present"
// (developer guide, Choice Rules).
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) < 20 || s[10] != 'T' || strings.ContainsRune(s, 'z') {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
