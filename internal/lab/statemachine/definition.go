package statemachine

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Definition is a loaded state machine definition: parsed, validated, and
// checked to use only the features the engine implements.
type Definition struct {
	text    string
	startAt string
	states  map[string]*state
	order   []string
}

// Text returns the definition after substitution, as CreateStateMachine
// stores it.
func (d *Definition) Text() string { return d.text }

// StartAt returns the name of the first state.
func (d *Definition) StartAt() string { return d.startAt }

// States returns the state names in definition order.
func (d *Definition) States() []string { return slices.Clone(d.order) }

// Functions returns the FunctionName of every Task whose function is named
// statically, in definition order, without duplicates: what an Invoker must
// be able to call.
func (d *Definition) Functions() []string {
	var out []string
	for _, n := range d.order {
		s := d.states[n]
		if s.typ != "Task" {
			continue
		}
		if name, ok := s.parameters.fieldString("FunctionName"); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

type state struct {
	name string
	typ  string
	next string
	end  bool

	// resultPath is nil when the state has none ($: the result replaces
	// the input).
	resultPath                 *refPath
	parameters, resultSelector *template
	result                     any
	hasResult                  bool

	// Task
	retry []retrier
	catch []catcher

	// Choice
	choices     []*choiceRule
	defaultNext string

	// Wait
	seconds     int64
	secondsPath *refPath

	// Fail
	errorName string
	causePath *refPath
}

type retrier struct {
	errorEquals     []string
	intervalSeconds int64
	maxAttempts     int64
	backoffRate     float64
	maxDelaySeconds int64 // 0: none
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  *refPath
}

// lambdaInvoke is the only Task resource the engine runs.
// NOTE: the optimized integration "arn:aws:states:::lambda:invoke" (developer
// guide, Invoke an AWS Lambda function with Step Functions). The
// .waitForTaskToken pattern, the legacy Lambda-ARN resource, activities and
// other services are refused at load.
const lambdaInvoke = "arn:aws:states:::lambda:invoke"

var substitutionRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// Load parses an Amazon States Language definition (JSONPath query
// language), replacing every ${Name} with substitutions[Name] first, as
// CloudFormation's DefinitionSubstitutions do. It returns an error naming
// the state and the feature when the definition is invalid, refers to a
// substitution that is not given, or uses an ASL feature the engine does
// not implement (see UnsupportedError): such a definition never runs.
func Load(definition []byte, substitutions map[string]string) (*Definition, error) {
	var missing []string
	text := substitutionRE.ReplaceAllStringFunc(string(definition), func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := substitutions[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("definition refers to substitutions that are not given: %s", strings.Join(slices.Compact(missing), ", "))
	}
	raw, err := decodeJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("definition is not valid JSON: %w", err)
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("definition must be a JSON object")
	}
	d := &Definition{text: text, states: map[string]*state{}}
	for k := range top {
		switch k {
		case "StartAt", "States", "Comment", "QueryLanguage", "Version", "TimeoutSeconds":
		default:
			return nil, fmt.Errorf("definition: unknown field %q", k)
		}
	}
	d.startAt, _ = top["StartAt"].(string)
	if d.startAt == "" {
		return nil, errors.New("definition: StartAt is required")
	}
	statesV, ok := top["States"].(map[string]any)
	if !ok || len(statesV) == 0 {
		return nil, errors.New("definition: States must be a non-empty object")
	}
	d.order = definitionOrder(text, statesV)
	// NOTE: a definition using an ASL feature the engine does not
	// implement is refused before it is parsed: the lab never runs a
	// definition differently from AWS without saying so.
	if err := checkFeatures(top, d.order); err != nil {
		return nil, err
	}
	for _, name := range d.order {
		s, err := parseState(name, statesV[name])
		if err != nil {
			return nil, err
		}
		d.states[name] = s
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// definitionOrder returns the state names in the order their definitions
// appear in the text (Go maps lose it), falling back to sorted order.
func definitionOrder(text string, states map[string]any) []string {
	names := make([]string, 0, len(states))
	pos := make(map[string]int, len(states))
	for n := range states {
		names = append(names, n)
		pos[n] = len(text)
		re := regexp.MustCompile(`"` + regexp.QuoteMeta(n) + `"\s*:\s*\{`)
		if loc := re.FindStringIndex(text); loc != nil {
			pos[n] = loc[0]
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if pos[names[i]] != pos[names[j]] {
			return pos[names[i]] < pos[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}

// allowedFields lists the fields each state type may have in a
// definition the engine runs: the transition grammar and the supported
// features (features.go refuses the other ASL fields first).
var allowedFields = map[string][]string{
	"Pass":    {"Type", "Comment", "Next", "End", "ResultPath", "Parameters", "Result"},
	"Task":    {"Type", "Comment", "Next", "End", "ResultPath", "Parameters", "ResultSelector", "Resource", "Retry", "Catch"},
	"Choice":  {"Type", "Comment", "Choices", "Default"},
	"Wait":    {"Type", "Comment", "Next", "End", "Seconds", "SecondsPath"},
	"Succeed": {"Type", "Comment"},
	"Fail":    {"Type", "Comment", "Error", "CausePath"},
}

func parseState(name string, v any) (*state, error) {
	where := fmt.Sprintf("state %q", name)
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be an object", where)
	}
	s := &state{name: name}
	s.typ, _ = m["Type"].(string)
	allowed, known := allowedFields[s.typ]
	if !known {
		return nil, fmt.Errorf("%s: unknown Type %v", where, m["Type"])
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%s: field %q is not valid in a %s state", where, k, s.typ)
		}
	}

	// Transitions.
	if n, ok := m["Next"]; ok {
		if s.next, ok = n.(string); !ok || s.next == "" {
			return nil, fmt.Errorf("%s: Next must be a state name", where)
		}
	}
	if e, ok := m["End"]; ok {
		b, ok := e.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: End must be a boolean", where)
		}
		s.end = b
	}
	switch s.typ {
	case "Pass", "Task", "Wait":
		if (s.next == "") == !s.end {
			return nil, fmt.Errorf("%s: exactly one of Next and End (true) is required", where)
		}
	}

	var err error
	if s.resultPath, err = optionalPath(m, "ResultPath", false, where); err != nil {
		return nil, err
	}
	if p, ok := m["Parameters"]; ok {
		if s.parameters, err = compileTemplate(p, where+": Parameters"); err != nil {
			return nil, err
		}
	}
	if p, ok := m["ResultSelector"]; ok {
		if _, isObj := p.(map[string]any); !isObj {
			return nil, fmt.Errorf("%s: ResultSelector must be an object", where)
		}
		if s.resultSelector, err = compileTemplate(p, where+": ResultSelector"); err != nil {
			return nil, err
		}
	}
	if r, ok := m["Result"]; ok {
		s.result, s.hasResult = r, true
	}

	switch s.typ {
	case "Task":
		err = parseTask(s, m, where)
	case "Choice":
		err = parseChoice(s, m, where)
	case "Wait":
		err = parseWait(s, m, where)
	case "Fail":
		err = parseFail(s, m, where)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// optionalPath parses an optional path field; nil when it is absent.
func optionalPath(m map[string]any, field string, allowContext bool, where string) (*refPath, error) {
	v, ok := m[field]
	if !ok {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: %s must be a reference path", where, field)
	}
	p, err := parsePath(s, allowContext)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, field, err)
	}
	return &p, nil
}

func parseTask(s *state, m map[string]any, where string) error {
	if r, _ := m["Resource"].(string); r != lambdaInvoke {
		return fmt.Errorf("%s: Resource %q: want %s", where, r, lambdaInvoke)
	}
	if s.parameters == nil || s.parameters.kind != tplObject {
		return fmt.Errorf("%s: lambda:invoke needs Parameters with FunctionName and Payload", where)
	}
	var hasName, hasPayload bool
	for _, f := range s.parameters.fields {
		switch f.name {
		case "FunctionName":
			hasName = true
		case "Payload":
			hasPayload = true
		}
	}
	if !hasName {
		return fmt.Errorf("%s: lambda:invoke needs Parameters.FunctionName", where)
	}
	if !hasPayload {
		// NOTE: without Payload, lambda:invoke sends the state input; the
		// project always sends an explicit one (docs/architecture.md).
		return unsupported(where, "lambda:invoke without an explicit Payload")
	}
	if r, ok := m["Retry"]; ok {
		list, ok := r.([]any)
		if !ok {
			return fmt.Errorf("%s: Retry must be an array", where)
		}
		for i, e := range list {
			rt, err := parseRetrier(e, fmt.Sprintf("%s: Retry[%d]", where, i), i == len(list)-1)
			if err != nil {
				return err
			}
			s.retry = append(s.retry, rt)
		}
	}
	if c, ok := m["Catch"]; ok {
		list, ok := c.([]any)
		if !ok {
			return fmt.Errorf("%s: Catch must be an array", where)
		}
		for i, e := range list {
			ct, err := parseCatcher(e, fmt.Sprintf("%s: Catch[%d]", where, i), i == len(list)-1)
			if err != nil {
				return err
			}
			s.catch = append(s.catch, ct)
		}
	}
	return nil
}

func parseErrorEquals(m map[string]any, where string, last bool) ([]string, error) {
	list, ok := m["ErrorEquals"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("%s: ErrorEquals must be a non-empty array of error names", where)
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s: ErrorEquals must hold error names", where)
		}
		out = append(out, s)
	}
	// NOTE: "States.ALL must appear alone in the ErrorEquals array and must
	// appear in the last retrier (catcher)" (developer guide).
	if slices.Contains(out, ErrAll) && (len(out) > 1 || !last) {
		return nil, fmt.Errorf("%s: States.ALL must appear alone, in the last element", where)
	}
	return out, nil
}

func parseRetrier(v any, where string, last bool) (retrier, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return retrier{}, fmt.Errorf("%s: must be an object", where)
	}
	// NOTE: defaults IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0;
	// MaxDelaySeconds is in 1..31622400 (developer guide, Retrying after an
	// error).
	r := retrier{intervalSeconds: 1, maxAttempts: 3, backoffRate: 2}
	for k, x := range m {
		var ok bool
		switch k {
		case "ErrorEquals", "Comment":
			ok = true
		case "IntervalSeconds":
			r.intervalSeconds, ok = integer(x)
			ok = ok && r.intervalSeconds >= 1 && r.intervalSeconds <= 99999999
		case "MaxAttempts":
			r.maxAttempts, ok = integer(x)
			ok = ok && r.maxAttempts >= 0 && r.maxAttempts <= 99999999
		case "BackoffRate":
			r.backoffRate, ok = number(x)
			ok = ok && r.backoffRate >= 1
		case "MaxDelaySeconds":
			r.maxDelaySeconds, ok = integer(x)
			ok = ok && r.maxDelaySeconds >= 1 && r.maxDelaySeconds <= 31622400
		default:
			return retrier{}, fmt.Errorf("%s: unknown field %q", where, k)
		}
		if !ok {
			return retrier{}, fmt.Errorf("%s: invalid %s %s", where, k, encodeJSON(x))
		}
	}
	var err error
	r.errorEquals, err = parseErrorEquals(m, where, last)
	return r, err
}

func parseCatcher(v any, where string, last bool) (catcher, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return catcher{}, fmt.Errorf("%s: must be an object", where)
	}
	c := catcher{}
	for k := range m {
		switch k {
		case "ErrorEquals", "Next", "ResultPath", "Comment":
		default:
			return catcher{}, fmt.Errorf("%s: unknown field %q", where, k)
		}
	}
	var err error
	if c.errorEquals, err = parseErrorEquals(m, where, last); err != nil {
		return catcher{}, err
	}
	if c.next, _ = m["Next"].(string); c.next == "" {
		return catcher{}, fmt.Errorf("%s: Next is required", where)
	}
	if c.resultPath, err = optionalPath(m, "ResultPath", false, where); err != nil {
		return catcher{}, err
	}
	return c, nil
}

func parseChoice(s *state, m map[string]any, where string) error {
	list, ok := m["Choices"].([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("%s: Choices must be a non-empty array", where)
	}
	for i, e := range list {
		r, err := parseChoiceRule(e, true, fmt.Sprintf("%s: Choices[%d]", where, i))
		if err != nil {
			return err
		}
		s.choices = append(s.choices, r)
	}
	if d, ok := m["Default"]; ok {
		if s.defaultNext, ok = d.(string); !ok || s.defaultNext == "" {
			return fmt.Errorf("%s: Default must be a state name", where)
		}
	}
	return nil
}

func parseWait(s *state, m map[string]any, where string) error {
	v, hasSeconds := m["Seconds"]
	_, hasPath := m["SecondsPath"]
	if hasSeconds == hasPath {
		return fmt.Errorf("%s: exactly one of Seconds and SecondsPath is required", where)
	}
	if hasSeconds {
		i, ok := integer(v)
		if !ok || i < 0 || i > 99999999 {
			return fmt.Errorf("%s: Seconds must be a non-negative integer", where)
		}
		s.seconds = i
		return nil
	}
	var err error
	s.secondsPath, err = optionalPath(m, "SecondsPath", true, where)
	return err
}

func parseFail(s *state, m map[string]any, where string) error {
	if v, ok := m["Error"]; ok {
		if s.errorName, ok = v.(string); !ok {
			return fmt.Errorf("%s: Error must be a string", where)
		}
	}
	// NOTE: CausePath takes a reference path (or an intrinsic function,
	// which the project does not use) evaluated against the state's input
	// (developer guide, Fail state).
	var err error
	s.causePath, err = optionalPath(m, "CausePath", true, where)
	return err
}

// validate checks the transitions: every target exists and every state is
// reachable from StartAt.
func (d *Definition) validate() error {
	if _, ok := d.states[d.startAt]; !ok {
		return fmt.Errorf("definition: StartAt %q is not a state", d.startAt)
	}
	for _, name := range d.order {
		s := d.states[name]
		for _, t := range s.targets() {
			if _, ok := d.states[t]; !ok {
				return fmt.Errorf("state %q: transition to %q, which is not a state", name, t)
			}
		}
	}
	seen := map[string]bool{d.startAt: true}
	queue := []string{d.startAt}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range d.states[n].targets() {
			if !seen[t] {
				seen[t] = true
				queue = append(queue, t)
			}
		}
	}
	for _, name := range d.order {
		if !seen[name] {
			return fmt.Errorf("state %q is not reachable from StartAt %q", name, d.startAt)
		}
	}
	return nil
}

func (s *state) targets() []string {
	var out []string
	if s.next != "" {
		out = append(out, s.next)
	}
	for _, c := range s.catch {
		out = append(out, c.next)
	}
	for _, r := range s.choices {
		out = append(out, r.nexts()...)
	}
	if s.defaultNext != "" {
		out = append(out, s.defaultNext)
	}
	return out
}

// fieldString returns a top-level literal string field of an object
// template.
func (t *template) fieldString(name string) (string, bool) {
	if t == nil {
		return "", false
	}
	for _, f := range t.fields {
		if f.name == name && f.value != nil {
			return f.value.staticString()
		}
	}
	return "", false
}
