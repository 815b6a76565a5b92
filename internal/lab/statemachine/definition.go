package statemachine

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
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

type optPath struct {
	set  bool // the field is present
	null bool // the field is JSON null
	path refPath
}

type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *template
	result                            any
	hasResult                         bool

	// Task
	resource       string
	timeoutSeconds int64
	retry          []retrier
	catch          []catcher

	// Choice
	choices     []*choiceRule
	defaultNext string

	// Wait
	seconds       int64
	hasSeconds    bool
	secondsPath   *refPath
	timestamp     time.Time
	hasTimestamp  bool
	timestampPath *refPath

	// Fail
	errorName, cause     string
	errorPath, causePath *dynamicString
}

type retrier struct {
	errorEquals     []string
	intervalSeconds int64
	maxAttempts     int64
	backoffRate     float64
	maxDelaySeconds int64 // 0: none
	jitterFull      bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
}

// dynamicString is a Fail state's ErrorPath or CausePath: a reference path
// or an intrinsic function.
type dynamicString struct {
	path *refPath
	call *intrinsic
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
	for k, v := range top {
		switch k {
		case "StartAt", "States", "Comment":
		case "Version":
			if v != "1.0" {
				return nil, fmt.Errorf("definition: Version %v is not \"1.0\"", v)
			}
		case "QueryLanguage":
			if v != "JSONPath" {
				return nil, unsupported("definition", fmt.Sprintf("QueryLanguage %v (only JSONPath)", v))
			}
		case "TimeoutSeconds":
			return nil, unsupported("definition", "the top-level TimeoutSeconds")
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

// allowedFields lists the fields each state type may have.
var allowedFields = map[string][]string{
	"Pass":    {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "QueryLanguage"},
	"Task":    {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "Retry", "Catch", "TimeoutSeconds", "QueryLanguage"},
	"Choice":  {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default", "QueryLanguage"},
	"Wait":    {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "QueryLanguage"},
	"Succeed": {"Type", "Comment", "InputPath", "OutputPath", "QueryLanguage"},
	"Fail":    {"Type", "Comment", "Error", "ErrorPath", "Cause", "CausePath", "QueryLanguage"},
}

// unsupportedFields names the ASL fields the engine knows of but does not
// implement, with what to call them in the error.
var unsupportedFields = map[string]string{
	"Arguments":            "Arguments (JSONata)",
	"Output":               "Output (JSONata)",
	"Assign":               "Assign (workflow variables)",
	"HeartbeatSeconds":     "HeartbeatSeconds",
	"HeartbeatSecondsPath": "HeartbeatSecondsPath",
	"TimeoutSecondsPath":   "TimeoutSecondsPath",
	"Credentials":          "Credentials (cross-account tasks)",
	"Iterator":             "Iterator",
	"ItemProcessor":        "ItemProcessor",
	"Branches":             "Branches",
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
		if s.typ == "Parallel" || s.typ == "Map" {
			return nil, unsupported(where, "the "+s.typ+" state type")
		}
		return nil, fmt.Errorf("%s: unknown Type %v", where, m["Type"])
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(allowed, k) {
			continue
		}
		if feature, ok := unsupportedFields[k]; ok {
			return nil, unsupported(where, feature)
		}
		return nil, fmt.Errorf("%s: field %q is not valid in a %s state", where, k, s.typ)
	}
	if ql, ok := m["QueryLanguage"]; ok && ql != "JSONPath" {
		return nil, unsupported(where, fmt.Sprintf("QueryLanguage %v (only JSONPath)", ql))
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
	if s.inputPath, err = parseOptPath(m, "InputPath", false, where); err != nil {
		return nil, err
	}
	if s.outputPath, err = parseOptPath(m, "OutputPath", false, where); err != nil {
		return nil, err
	}
	if s.resultPath, err = parseOptPath(m, "ResultPath", false, where); err != nil {
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

func parseOptPath(m map[string]any, field string, allowContext bool, where string) (optPath, error) {
	v, ok := m[field]
	if !ok {
		return optPath{}, nil
	}
	if v == nil {
		return optPath{set: true, null: true}, nil
	}
	s, ok := v.(string)
	if !ok {
		return optPath{}, fmt.Errorf("%s: %s must be a path or null", where, field)
	}
	p, err := parsePath(s, allowContext)
	if err != nil {
		return optPath{}, fmt.Errorf("%s: %s: %w", where, field, err)
	}
	return optPath{set: true, path: p}, nil
}

func parseTask(s *state, m map[string]any, where string) error {
	s.resource, _ = m["Resource"].(string)
	switch {
	case s.resource == lambdaInvoke:
	case strings.HasPrefix(s.resource, lambdaInvoke+"."):
		return unsupported(where, fmt.Sprintf("the %s integration pattern", strings.TrimPrefix(s.resource, lambdaInvoke)))
	case strings.HasPrefix(s.resource, "arn:aws:lambda:"):
		return unsupported(where, "the Lambda-ARN Task resource (use arn:aws:states:::lambda:invoke)")
	case s.resource == "":
		return fmt.Errorf("%s: Resource is required", where)
	default:
		return unsupported(where, fmt.Sprintf("the Task resource %s (only %s)", s.resource, lambdaInvoke))
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
		default:
			// NOTE: lambda:invoke also takes ClientContext, InvocationType
			// and Qualifier (developer guide); the lab runs synchronous
			// invocations of the unqualified function only.
			return unsupported(where, fmt.Sprintf("the lambda:invoke parameter %s", f.name))
		}
	}
	if !hasName {
		return fmt.Errorf("%s: lambda:invoke needs Parameters.FunctionName", where)
	}
	if !hasPayload {
		return unsupported(where, "lambda:invoke without an explicit Payload")
	}
	if t, ok := m["TimeoutSeconds"]; ok {
		n, ok := integer(t)
		if !ok || n < 1 || n > 99999999 {
			return fmt.Errorf("%s: TimeoutSeconds must be a positive integer", where)
		}
		s.timeoutSeconds = n
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
	// MaxDelaySeconds is in 1..31622400 and JitterStrategy FULL or NONE
	// (developer guide, Retrying after an error).
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
		case "JitterStrategy":
			ok = x == "FULL" || x == "NONE"
			r.jitterFull = x == "FULL"
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
		case "Assign", "Output":
			return catcher{}, unsupported(where, k+" (variables and JSONata)")
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
	if c.resultPath, err = parseOptPath(m, "ResultPath", false, where); err != nil {
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
	n := 0
	if v, ok := m["Seconds"]; ok {
		n++
		i, ok := integer(v)
		if !ok || i < 0 || i > 99999999 {
			return fmt.Errorf("%s: Seconds must be a non-negative integer", where)
		}
		s.seconds, s.hasSeconds = i, true
	}
	if v, ok := m["SecondsPath"]; ok {
		n++
		p, err := stringPath(v, where, "SecondsPath")
		if err != nil {
			return err
		}
		s.secondsPath = &p
	}
	if v, ok := m["Timestamp"]; ok {
		n++
		str, _ := v.(string)
		t, ok := parseTimestamp(str)
		if !ok {
			return fmt.Errorf("%s: Timestamp must be an RFC 3339 timestamp", where)
		}
		s.timestamp, s.hasTimestamp = t, true
	}
	if v, ok := m["TimestampPath"]; ok {
		n++
		p, err := stringPath(v, where, "TimestampPath")
		if err != nil {
			return err
		}
		s.timestampPath = &p
	}
	if n != 1 {
		return fmt.Errorf("%s: exactly one of Seconds, SecondsPath, Timestamp and TimestampPath is required", where)
	}
	return nil
}

func stringPath(v any, where, field string) (refPath, error) {
	str, ok := v.(string)
	if !ok {
		return refPath{}, fmt.Errorf("%s: %s must be a reference path", where, field)
	}
	p, err := parsePath(str, true)
	if err != nil {
		return refPath{}, fmt.Errorf("%s: %s: %w", where, field, err)
	}
	return p, nil
}

func parseFail(s *state, m map[string]any, where string) error {
	var err error
	if s.errorName, s.errorPath, err = staticOrDynamic(m, "Error", where); err != nil {
		return err
	}
	s.cause, s.causePath, err = staticOrDynamic(m, "Cause", where)
	return err
}

// staticOrDynamic parses Error/ErrorPath or Cause/CausePath.
// NOTE: ErrorPath and CausePath take a reference path or an intrinsic
// function, and exclude Error and Cause (developer guide, Fail state).
func staticOrDynamic(m map[string]any, field, where string) (string, *dynamicString, error) {
	sv, hasStatic := m[field]
	pv, hasPath := m[field+"Path"]
	if hasStatic && hasPath {
		return "", nil, fmt.Errorf("%s: %s and %sPath are exclusive", where, field, field)
	}
	if hasStatic {
		str, ok := sv.(string)
		if !ok {
			return "", nil, fmt.Errorf("%s: %s must be a string", where, field)
		}
		return str, nil, nil
	}
	if !hasPath {
		return "", nil, nil
	}
	str, ok := pv.(string)
	if !ok {
		return "", nil, fmt.Errorf("%s: %sPath must be a path or an intrinsic function", where, field)
	}
	if isIntrinsic(str) {
		c, err := parseIntrinsic(str)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %sPath: %w", where, field, err)
		}
		return "", &dynamicString{call: c}, nil
	}
	p, err := parsePath(str, true)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %sPath: %w", where, field, err)
	}
	return "", &dynamicString{path: &p}, nil
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
