// Package stepfntest is an in-memory AWS Step Functions endpoint for tests:
// an httptest server speaking the SDK's default protocol for the service
// (awsJson1_0, X-Amz-Target "AWSStepFunctions.<Operation>") for the
// operations relayshift calls — StartExecution, DescribeExecution,
// ListExecutions, StopExecution, GetExecutionHistory.
//
// It is stateful, not canned: executions are created by StartExecution with
// AWS's name idempotency, listed newest first, stopped by StopExecution
// (RUNNING → ABORTED with the error and cause, recorded as an
// ExecutionAborted event), and their history grows as a Script plays
// against a Clock the test controls. History pages follow nextToken and
// reverseOrder as AWS documents them. With a Definition (the real
// deploy.asl.json), each Script is checked against the state machine and
// keeps in the state document what its ResultSelectors keep.
package stepfntest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account and Region of every ARN the server makes.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Clock is a manual clock shared by the server and the code under test:
// Sleep advances it instead of waiting. A wall clock (WallClock) follows
// real time instead, for code under test running in another process.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	wall bool
}

// NewClock returns a manual clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// WallClock returns a clock reading the real time.
func WallClock() *Clock { return &Clock{wall: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	if c.wall {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves a manual clock forward by d (a wall clock ignores it).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Execution is one execution the server holds.
type Execution struct {
	ARN, Name, StateMachineARN string
	Status                     string
	Input, Output              string
	Error, Cause               string
	Started, Stopped           time.Time

	events  []map[string]any
	pending []scripted
}

// Call is one request the server received.
type Call struct {
	Operation string
	Body      map[string]any
}

// Server is the fake endpoint.
type Server struct {
	// URL is the endpoint: point the SDK's BaseEndpoint (or
	// AWS_ENDPOINT_URL) here.
	URL string
	// Scenario, when set, scripts each new execution: it receives the
	// execution (name, input) and a Script positioned just after the
	// ExecutionStarted event. Without it, executions stay RUNNING.
	Scenario func(x *Execution, s *Script)
	// Definition, when set, is the state machine every Script is checked
	// against (see Script); a script that strays from it fails the test.
	Definition *Definition

	t        testing.TB
	clock    *Clock
	mu       sync.Mutex
	machines map[string]bool
	execs    []*Execution
	calls    []Call
	faults   map[string][]string
}

// NewServer starts a server for the test's lifetime, reading time from
// clock.
func NewServer(t testing.TB, clock *Clock) *Server {
	t.Helper()
	s := &Server{t: t, clock: clock, machines: map[string]bool{}, faults: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// AddStateMachine creates a state machine called name and returns its ARN.
func (s *Server) AddStateMachine(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", Region, Account, name)
	s.machines[arn] = true
	return arn
}

// FailNext makes the next n calls of operation fail with the AWS error
// code (for example ThrottlingException), before they reach any state.
func (s *Server) FailNext(operation string, n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[operation] = append(s.faults[operation], code)
	}
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Count returns how many times operation was called.
func (s *Server) Count(operation string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Operation == operation {
			n++
		}
	}
	return n
}

// Executions returns a snapshot of every execution, oldest first.
func (s *Server) Executions() []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]Execution, 0, len(s.execs))
	for _, x := range s.execs {
		c := *x
		c.events, c.pending = nil, nil
		out = append(out, c)
	}
	return out
}

// Start creates a RUNNING execution directly (as another client would),
// scripted by Scenario, and returns its ARN.
func (s *Server) Start(stateMachineARN, name, input string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.start(stateMachineARN, name, input)
	return x.ARN
}

// apiError is an AWS error response.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func fail(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	if r.Method != http.MethodPost || !ok {
		writeErr(w, fail("UnknownOperationException", "unsupported request %s %s %q", r.Method, r.URL.Path, target))
		return
	}
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		writeErr(w, fail("SerializationException", "body is not JSON: %v", err))
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Operation: op, Body: body})
	if f := s.faults[op]; len(f) > 0 {
		s.faults[op] = f[1:]
		s.mu.Unlock()
		writeErr(w, fail(f[0], "injected fault"))
		return
	}
	s.advance()
	var out any
	var err *apiError
	switch op {
	case "StartExecution":
		out, err = s.startExecution(body)
	case "DescribeExecution":
		out, err = s.describeExecution(body)
	case "ListExecutions":
		out, err = s.listExecutions(body)
	case "StopExecution":
		out, err = s.stopExecution(body)
	case "GetExecutionHistory":
		out, err = s.getExecutionHistory(body)
	default:
		err = fail("UnknownOperationException", "operation %s is not supported by this fake", op)
	}
	s.mu.Unlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}

func str(body map[string]any, k string) string {
	v, _ := body[k].(string)
	return v
}

// epoch renders a timestamp as awsJson does: seconds since the epoch, with
// a fraction.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

// NOTE: execution names are 1-80 characters, without whitespace, brackets,
// wildcards, special characters (" # % \ ^ | ~ ` $ & , ; : /) or control
// characters (StartExecution reference).
var badName = regexp.MustCompile("[\\s<>{}\\[\\]?*\"#%\\\\^|~`$&,;:/\\x00-\\x1f\\x7f]")

func (s *Server) startExecution(body map[string]any) (any, *apiError) {
	sm, name, input := str(body, "stateMachineArn"), str(body, "name"), str(body, "input")
	if !s.machines[sm] {
		return nil, fail("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", sm)
	}
	if name == "" || len(name) > 80 || badName.MatchString(name) {
		return nil, fail("InvalidName", "Invalid Name: '%s'", name)
	}
	if input == "" {
		input = "{}"
	}
	if !json.Valid([]byte(input)) {
		return nil, fail("InvalidExecutionInput", "Invalid State Machine Execution Input")
	}
	for _, x := range s.execs {
		if x.StateMachineARN == sm && x.Name == name {
			if x.Status == "RUNNING" && x.Input == input {
				return map[string]any{"executionArn": x.ARN, "startDate": epoch(x.Started)}, nil
			}
			return nil, fail("ExecutionAlreadyExists", "Execution Already Exists: '%s'", x.ARN)
		}
	}
	x := s.start(sm, name, input)
	return map[string]any{"executionArn": x.ARN, "startDate": epoch(x.Started)}, nil
}

func (s *Server) start(sm, name, input string) *Execution {
	smName := sm[strings.LastIndex(sm, ":")+1:]
	now := s.clock.Now()
	x := &Execution{
		ARN:  fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", Region, Account, smName, name),
		Name: name, StateMachineARN: sm, Status: "RUNNING", Input: input, Started: now,
	}
	sc := newScript(input, s.Definition, func(format string, args ...any) {
		s.t.Errorf("execution %s: "+format, append([]any{name}, args...)...)
	})
	if s.Scenario != nil {
		s.Scenario(x, sc)
	}
	x.pending = sc.events
	s.execs = append(s.execs, x)
	s.advance()
	return x
}

// advance moves every scripted event that is due into the history, and
// applies terminal events to the execution's status.
func (s *Server) advance() {
	now := s.clock.Now()
	for _, x := range s.execs {
		for len(x.pending) > 0 && x.Status == "RUNNING" {
			p := x.pending[0]
			at := x.Started.Add(p.at)
			if at.After(now) {
				break
			}
			x.pending = x.pending[1:]
			x.append(at, p.event)
			switch p.event["type"] {
			case "ExecutionSucceeded":
				x.Status, x.Stopped = "SUCCEEDED", at
				x.Output = details(p.event, "executionSucceededEventDetails")["output"].(string)
			case "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted":
				x.Status, x.Stopped = "FAILED", at
				switch p.event["type"] {
				case "ExecutionTimedOut":
					x.Status = "TIMED_OUT"
				case "ExecutionAborted":
					x.Status = "ABORTED"
				}
				d := details(p.event, "executionFailedEventDetails", "executionTimedOutEventDetails", "executionAbortedEventDetails")
				x.Error, _ = d["error"].(string)
				x.Cause, _ = d["cause"].(string)
			}
		}
		if x.Status != "RUNNING" {
			x.pending = nil
		}
	}
}

func details(ev map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		if d, ok := ev[k].(map[string]any); ok {
			return d
		}
	}
	return map[string]any{}
}

// append adds an event with the next id, chained to the previous one.
func (x *Execution) append(at time.Time, ev map[string]any) {
	e := map[string]any{}
	for k, v := range ev {
		e[k] = v
	}
	e["id"] = len(x.events) + 1
	e["previousEventId"] = len(x.events)
	if e["type"] == "ExecutionStarted" {
		e["previousEventId"] = 0
	}
	e["timestamp"] = epoch(at)
	x.events = append(x.events, e)
}

func (s *Server) find(arn string) (*Execution, *apiError) {
	for _, x := range s.execs {
		if x.ARN == arn {
			return x, nil
		}
	}
	if !strings.Contains(arn, ":execution:") {
		return nil, fail("InvalidArn", "Invalid Arn: '%s'", arn)
	}
	return nil, fail("ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
}

func (s *Server) describeExecution(body map[string]any) (any, *apiError) {
	x, err := s.find(str(body, "executionArn"))
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"executionArn": x.ARN, "stateMachineArn": x.StateMachineARN, "name": x.Name,
		"status": x.Status, "startDate": epoch(x.Started), "input": x.Input,
		"inputDetails": map[string]bool{"included": true},
	}
	if x.Status != "RUNNING" {
		out["stopDate"] = epoch(x.Stopped)
	}
	if x.Status == "SUCCEEDED" {
		out["output"] = x.Output
	}
	if x.Error != "" {
		out["error"] = x.Error
	}
	if x.Cause != "" {
		out["cause"] = x.Cause
	}
	return out, nil
}

func pageArgs(body map[string]any) (int, string) {
	n := 100
	if v, ok := body["maxResults"].(float64); ok && v > 0 {
		n = int(v)
	}
	return n, str(body, "nextToken")
}

func (s *Server) listExecutions(body map[string]any) (any, *apiError) {
	sm := str(body, "stateMachineArn")
	if !s.machines[sm] {
		return nil, fail("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", sm)
	}
	filter := str(body, "statusFilter")
	var list []map[string]any
	for i := len(s.execs) - 1; i >= 0; i-- { // newest first
		x := s.execs[i]
		if x.StateMachineARN != sm || (filter != "" && x.Status != filter) {
			continue
		}
		item := map[string]any{
			"executionArn": x.ARN, "stateMachineArn": sm, "name": x.Name,
			"status": x.Status, "startDate": epoch(x.Started),
		}
		if x.Status != "RUNNING" {
			item["stopDate"] = epoch(x.Stopped)
		}
		list = append(list, item)
	}
	n, token := pageArgs(body)
	from := 0
	if token != "" {
		i, err := strconv.Atoi(strings.TrimPrefix(token, "list:"))
		if err != nil || i < 0 || i > len(list) {
			return nil, fail("InvalidToken", "Invalid Token: '%s'", token)
		}
		from = i
	}
	to := min(from+n, len(list))
	out := map[string]any{"executions": append([]map[string]any{}, list[from:to]...)}
	if to < len(list) {
		out["nextToken"] = "list:" + strconv.Itoa(to)
	}
	return out, nil
}

func (s *Server) stopExecution(body map[string]any) (any, *apiError) {
	x, err := s.find(str(body, "executionArn"))
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if x.Status == "RUNNING" {
		x.Status, x.Stopped = "ABORTED", now
		x.Error, x.Cause = str(body, "error"), str(body, "cause")
		x.pending = nil
		d := map[string]any{}
		if x.Error != "" {
			d["error"] = x.Error
		}
		if x.Cause != "" {
			d["cause"] = x.Cause
		}
		x.append(now, map[string]any{"type": "ExecutionAborted", "executionAbortedEventDetails": d})
	}
	return map[string]any{"stopDate": epoch(x.Stopped)}, nil
}

// getExecutionHistory pages the history; a token names the id of the last
// event returned, so pages stay correct while the history grows.
func (s *Server) getExecutionHistory(body map[string]any) (any, *apiError) {
	x, err := s.find(str(body, "executionArn"))
	if err != nil {
		return nil, err
	}
	reverse, _ := body["reverseOrder"].(bool)
	include := true
	if v, ok := body["includeExecutionData"].(bool); ok {
		include = v
	}
	n, token := pageArgs(body)
	evs := slices.Clone(x.events)
	if reverse {
		slices.Reverse(evs)
	}
	from := 0
	if token != "" {
		id, perr := strconv.Atoi(strings.TrimPrefix(token, "after:"))
		if perr != nil {
			return nil, fail("InvalidToken", "Invalid Token: '%s'", token)
		}
		from = slices.IndexFunc(evs, func(e map[string]any) bool { return e["id"] == id }) + 1
		if from == 0 {
			return nil, fail("InvalidToken", "Invalid Token: '%s'", token)
		}
	}
	to := min(from+n, len(evs))
	page := make([]map[string]any, 0, to-from)
	for _, e := range evs[from:to] {
		if !include {
			e = stripData(e)
		}
		page = append(page, e)
	}
	out := map[string]any{"events": page}
	if to < len(evs) {
		out["nextToken"] = "after:" + strconv.Itoa(evs[to-1]["id"].(int))
	}
	return out, nil
}

// stripData drops inputs and outputs, as includeExecutionData=false does.
func stripData(e map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range e {
		if d, ok := v.(map[string]any); ok && strings.HasSuffix(k, "EventDetails") {
			dd := map[string]any{}
			for dk, dv := range d {
				if dk != "input" && dk != "output" {
					dd[dk] = dv
				}
			}
			v = dd
		}
		c[k] = v
	}
	return c
}
