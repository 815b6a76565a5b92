package statemachine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusAborted   = "ABORTED"
)

// NOTE: "The maximum input or output size for a task, state, or execution is
// 256 KiB of data as a UTF-8 encoded string"; larger data fails the
// execution with States.DataLimitExceeded (developer guide, Service quotas;
// Error names). A Standard execution's history is limited to 25,000
// events.
const (
	maxPayloadBytes = 256 * 1024
	maxEvents       = 25000
)

// execution is one run of a state machine. Its mutable fields are guarded
// by the service's mutex; the goroutine running it (run) is the only writer
// of its events apart from StopExecution.
type execution struct {
	svc    *Service
	sm     *stateMachine
	arn    string
	name   string
	input  string
	inputV any
	start  time.Time

	// Guarded by svc.mu.
	status       string
	stop         time.Time
	output       string
	errName      string
	cause        string
	events       []Event
	enteredFirst bool

	stopCtx context.Context // done when the execution stops (StopExecution, service Close)
	abort   context.CancelFunc
	done    chan struct{}
}

// stateResult is how a state ends.
type stateResult struct {
	output  any
	next    string
	end     bool
	err     *stateError // the execution fails with it
	aborted bool        // the execution was stopped meanwhile
}

func (x *execution) run() {
	defer close(x.done)
	defer x.abort()
	name, data := x.sm.def.startAt, x.inputV
	for {
		s := x.sm.def.states[name]
		r := x.runState(s, data)
		switch {
		case r.aborted:
			return
		case r.err != nil:
			x.finish(StatusFailed, "", r.err)
			return
		case r.end:
			x.finish(StatusSucceeded, encodeJSON(r.output), nil)
			return
		}
		name, data = r.next, r.output
	}
}

// emit appends an event unless the execution has ended (it was stopped),
// and returns the event's id, or 0 when it was not appended.
func (x *execution) emit(e Event) int64 {
	x.svc.mu.Lock()
	defer x.svc.mu.Unlock()
	if x.status != StatusRunning {
		return 0
	}
	return x.appendLocked(e)
}

func (x *execution) appendLocked(e Event) int64 {
	e.ID = int64(len(x.events)) + 1
	e.PreviousEventID = e.ID - 1
	if e.StateEntered != nil && !x.enteredFirst {
		x.enteredFirst = true
		e.PreviousEventID = 0
	}
	e.Timestamp = x.svc.clock.Now()
	x.events = append(x.events, e)
	return e.ID
}

// finish ends a running execution with status.
func (x *execution) finish(status, output string, failure *stateError) {
	x.svc.mu.Lock()
	defer x.svc.mu.Unlock()
	if x.status != StatusRunning {
		return
	}
	x.status, x.stop = status, x.svc.clock.Now()
	switch status {
	case StatusSucceeded:
		x.output = output
		x.appendLocked(Event{Type: "ExecutionSucceeded", ExecutionSucceeded: &OutputDetails{Output: output, OutputDetails: &DataDetails{}}})
	case StatusFailed:
		x.errName, x.cause = failure.Name, failure.Cause
		x.appendLocked(Event{Type: "ExecutionFailed", ExecutionFailed: &FailureDetails{Error: failure.Name, Cause: failure.Cause}})
	}
	x.svc.log.Info("execution ended", "execution", x.arn, "status", status, "error", x.errName)
}

// stopLocked aborts a running execution (StopExecution). A Lambda function
// already running is not interrupted; its result is discarded.
func (x *execution) stopLocked(errName, cause string) {
	if x.status != StatusRunning {
		return
	}
	x.status, x.stop = StatusAborted, x.svc.clock.Now()
	x.errName, x.cause = errName, cause
	x.appendLocked(Event{Type: "ExecutionAborted", ExecutionAborted: &FailureDetails{Error: errName, Cause: cause}})
	x.abort()
	x.svc.log.Info("execution aborted", "execution", x.arn, "error", errName)
}

func (x *execution) runState(s *state, raw any) stateResult {
	entered := x.svc.clock.Now()
	rawText := encodeJSON(raw)
	enteredID := x.emit(Event{Type: s.typ + "StateEntered", StateEntered: &StateEnteredDetails{Name: s.name, Input: rawText, InputDetails: &DataDetails{}}})
	if enteredID == 0 {
		return stateResult{aborted: true}
	}
	x.svc.log.Debug("state entered", "execution", x.arn, "state", s.name, "type", s.typ)
	if x.eventCount() >= maxEvents {
		return stateResult{err: &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The execution reached the maximum number of history events (%d).", maxEvents)}}
	}
	c := &stateRun{x: x, s: s, raw: raw, entered: entered, enteredID: enteredID}
	var r stateResult
	switch s.typ {
	case "Pass":
		r = c.pass()
	case "Task":
		r = c.task()
	case "Choice":
		r = c.choice()
	case "Wait":
		r = c.wait()
	case "Succeed":
		r = c.succeed()
	case "Fail":
		r = c.fail()
	}
	if r.aborted || r.err != nil || s.typ == "Fail" {
		return r
	}
	out := encodeJSON(r.output)
	if len(out) > maxPayloadBytes {
		return stateResult{err: &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", s.name)}}
	}
	if x.emit(Event{Type: s.typ + "StateExited", StateExited: &StateExitedDetails{Name: s.name, Output: out, OutputDetails: &DataDetails{}}}) == 0 {
		return stateResult{aborted: true}
	}
	return r
}

func (x *execution) eventCount() int {
	x.svc.mu.Lock()
	defer x.svc.mu.Unlock()
	return len(x.events)
}

// stateRun is one visit of a state.
type stateRun struct {
	x          *execution
	s          *state
	raw        any
	entered    time.Time
	enteredID  int64
	retryCount int
}

// contextObject builds the $$ context object: the one field the project's
// definition reads (features.go refuses the others).
// NOTE: Execution.Id is the execution's ARN (developer guide, Accessing
// execution data from the Context object).
func (c *stateRun) contextObject() any {
	return map[string]any{"Execution": map[string]any{"Id": c.x.arn}}
}

// runtimeErr builds a States.Runtime error the way AWS words them.
func (c *stateRun) runtimeErr(format string, args ...any) *stateError {
	return &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s",
		c.s.name, c.enteredID, fmt.Sprintf(format, args...))}
}

// resultPath places result into the state's input.
// NOTE: without ResultPath the result replaces the input ($); a path that
// crosses a non-object fails the state with States.ResultPathMatchFailure
// (developer guide, ResultPath).
func (c *stateRun) resultPath(p *refPath, result any) (any, *stateError) {
	if p == nil {
		return result, nil
	}
	out, err := p.set(c.raw, result)
	if err != nil {
		return nil, &stateError{Name: ErrResultPathMatch, Cause: fmt.Sprintf("Unable to apply ResultPath '%s' to input '%s': %v", p, encodeJSON(c.raw), err)}
	}
	return out, nil
}

func (c *stateRun) pass() stateResult {
	result := c.raw
	if c.s.parameters != nil {
		v, perr := c.s.parameters.eval(c.raw, c.contextObject())
		if perr != nil {
			return stateResult{err: c.runtimeErr("%v", perr)}
		}
		result = v
	}
	if c.s.hasResult {
		result = c.s.result
	}
	out, err := c.resultPath(c.s.resultPath, result)
	if err != nil {
		return stateResult{err: err}
	}
	return stateResult{output: out, next: c.s.next, end: c.s.end}
}

func (c *stateRun) choice() stateResult {
	next := c.s.defaultNext
	ctxObj := c.contextObject()
	matched := false
	for _, r := range c.s.choices {
		ok, cerr := r.eval(c.raw, ctxObj)
		if cerr != nil {
			return stateResult{err: c.runtimeErr("%v", cerr)}
		}
		if ok {
			next, matched = r.next, true
			break
		}
	}
	if !matched && next == "" {
		// NOTE: "If no Choices evaluate to true ... and no Default is
		// provided, the state machine will throw an error"
		// (States.NoChoiceMatched; developer guide, Choice state).
		return stateResult{err: &stateError{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Choice rule of state '%s' matched the input '%s' and there is no Default.", c.s.name, encodeJSON(c.raw))}}
	}
	return stateResult{output: c.raw, next: next}
}

func (c *stateRun) wait() stateResult {
	d := time.Duration(c.s.seconds) * time.Second
	if p := c.s.secondsPath; p != nil {
		v, ok := c.pathValue(*p, c.raw)
		n, isInt := integer(v)
		// NOTE: SecondsPath must resolve to a non-negative integer
		// (developer guide, Wait state); anything else fails the execution.
		if !ok || !isInt || n < 0 || n > 99999999 {
			return stateResult{err: c.runtimeErr("The SecondsPath parameter does not reference a valid integer value: '%s'", encodeJSONOrMissing(v, ok))}
		}
		d = time.Duration(n) * time.Second
	}
	if c.x.svc.clock.Sleep(c.x.stopCtx, scale(d, c.x.svc.timeScale)) != nil {
		return stateResult{aborted: true}
	}
	return stateResult{output: c.raw, next: c.s.next, end: c.s.end}
}

func encodeJSONOrMissing(v any, ok bool) string {
	if !ok {
		return "(no value)"
	}
	return encodeJSON(v)
}

func (c *stateRun) pathValue(p refPath, data any) (any, bool) {
	if p.context {
		return p.get(c.contextObject())
	}
	return p.get(data)
}

func (c *stateRun) succeed() stateResult {
	return stateResult{output: c.raw, end: true}
}

// fail ends the execution with the Fail state's error and cause.
// NOTE: CausePath is evaluated against the state's input and must yield a
// string (developer guide, Fail state).
func (c *stateRun) fail() stateResult {
	cause := ""
	if p := c.s.causePath; p != nil {
		v, ok := c.pathValue(*p, c.raw)
		if !ok {
			return stateResult{err: c.runtimeErr("Invalid path '%s' for the field 'CausePath': No results for path: %s", p, p)}
		}
		s, isString := v.(string)
		if !isString {
			return stateResult{err: c.runtimeErr("The value of the field 'CausePath' must be a string, not a %s", typeName(v))}
		}
		cause = s
	}
	return stateResult{err: &stateError{Name: c.s.errorName, Cause: cause}}
}

// task runs a lambda:invoke Task with its Retry and Catch.
func (c *stateRun) task() stateResult {
	s := c.s
	counts := make([]int64, len(s.retry))
	for {
		out, serr, aborted := c.attempt()
		if aborted {
			return stateResult{aborted: true}
		}
		if serr == nil {
			return stateResult{output: out, next: s.next, end: s.end}
		}
		// NOTE: "When a state reports an error, Step Functions scans through
		// the retriers ... it implements the retry policy described in
		// [the first retrier whose ErrorEquals matches]"; once that
		// retrier's MaxAttempts is reached, "retries cease and normal error
		// handling resumes" (Catch), and a retrier's count applies "across
		// all visits to the retrier in the context of a single-state
		// execution" (developer guide, Retrying after an error; Complex
		// retry scenarios).
		if i := firstMatch(len(s.retry), func(i int) []string { return s.retry[i].errorEquals }, serr.Name); i >= 0 && counts[i] < s.retry[i].maxAttempts {
			d := backoff(s.retry[i], counts[i])
			counts[i]++
			c.retryCount++
			if c.x.svc.clock.Sleep(c.x.stopCtx, scale(d, c.x.svc.timeScale)) != nil {
				return stateResult{aborted: true}
			}
			continue
		}
		if i := firstMatch(len(s.catch), func(i int) []string { return s.catch[i].errorEquals }, serr.Name); i >= 0 {
			// NOTE: the error output is {"Error", "Cause"}, placed by the
			// catcher's ResultPath into the state's raw input (default $:
			// replacing it) (developer guide, Fallback states).
			errOut := map[string]any{"Error": serr.Name, "Cause": serr.Cause}
			out, err := c.resultPath(s.catch[i].resultPath, errOut)
			if err != nil {
				return stateResult{err: c.runtimeErr("%s", err.Cause)}
			}
			return stateResult{output: out, next: s.catch[i].next}
		}
		return stateResult{err: serr}
	}
}

func firstMatch(n int, errorEquals func(int) []string, name string) int {
	for i := range n {
		if matches(errorEquals(i), name) {
			return i
		}
	}
	return -1
}

// backoff returns the interval before retry number count+1 of r.
// NOTE: the interval is IntervalSeconds × BackoffRate^(retries so far),
// capped by MaxDelaySeconds (developer guide, Retrier fields).
func backoff(r retrier, count int64) time.Duration {
	secs := float64(r.intervalSeconds) * math.Pow(r.backoffRate, float64(count))
	if r.maxDelaySeconds > 0 && secs > float64(r.maxDelaySeconds) {
		secs = float64(r.maxDelaySeconds)
	}
	if secs > math.MaxInt64/float64(time.Second) {
		secs = math.MaxInt64 / float64(time.Second)
	}
	return time.Duration(secs * float64(time.Second))
}

const (
	lambdaResourceType = "lambda"
	lambdaResource     = "invoke"
)

// attempt runs the Task once: input processing, the invocation, result
// processing. It returns the state's output, or the error to retry or
// catch.
func (c *stateRun) attempt() (any, *stateError, bool) {
	s := c.s
	pv, perr := s.parameters.eval(c.raw, c.contextObject())
	if perr != nil {
		return nil, c.runtimeErr("%v", perr), false
	}
	params := pv.(map[string]any)
	fn, ok := params["FunctionName"].(string)
	if !ok {
		return nil, c.runtimeErr("The FunctionName parameter must be a string, not a %s", typeName(params["FunctionName"])), false
	}
	payload := encodeJSON(params["Payload"])
	if len(payload) > maxPayloadBytes {
		return nil, &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state '%s' produced a task input exceeding the maximum number of bytes service limit.", s.name)}, false
	}
	x := c.x
	if x.emit(Event{Type: "TaskScheduled", TaskScheduled: &TaskScheduledDetails{
		ResourceType: lambdaResourceType, Resource: lambdaResource, Region: x.svc.region,
		Parameters: encodeJSON(params),
	}}) == 0 {
		return nil, nil, true
	}
	if x.emit(Event{Type: "TaskStarted", TaskStarted: &TaskResource{ResourceType: lambdaResourceType, Resource: lambdaResource}}) == 0 {
		return nil, nil, true
	}
	task := Task{ExecutionARN: x.arn, StateName: s.name, RetryCount: c.retryCount}
	body, ierr, aborted := x.svc.invoke(x.stopCtx, task, fn, []byte(payload))
	if aborted {
		return nil, nil, true
	}
	if ierr != nil {
		if x.emit(Event{Type: "TaskFailed", TaskFailed: &TaskFailureDetails{ResourceType: lambdaResourceType, Resource: lambdaResource, Error: ierr.Name, Cause: ierr.Cause}}) == 0 {
			return nil, nil, true
		}
		return nil, ierr, false
	}
	result := lambdaResult(body)
	resultText := encodeJSON(result)
	if len(resultText) > maxPayloadBytes {
		return nil, &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", s.name)}, false
	}
	if x.emit(Event{Type: "TaskSucceeded", TaskSucceeded: &TaskSucceededDetails{
		ResourceType: lambdaResourceType, Resource: lambdaResource, Output: resultText, OutputDetails: &DataDetails{},
	}}) == 0 {
		return nil, nil, true
	}
	var selected any = result
	if s.resultSelector != nil {
		v, err := s.resultSelector.eval(result, c.contextObject())
		if err != nil {
			return nil, c.runtimeErr("%v", err), false
		}
		selected = v
	}
	out, rerr := c.resultPath(s.resultPath, selected)
	if rerr != nil {
		return nil, rerr, false
	}
	return out, nil, false
}

// lambdaResult wraps a function's response as the lambda:invoke
// integration does.
// NOTE: the result is the Invoke API response with "The Payload field of
// the response parsed from escaped Json to Json" (developer guide, Invoke an
// AWS Lambda function) next to ExecutedVersion, SdkHttpMetadata,
// SdkResponseMetadata and StatusCode 200 (recorded AWS histories). A
// payload that is not JSON stays a string.
func lambdaResult(body []byte) any {
	var payload any
	if v, err := decodeJSON(body); err == nil {
		payload = v
	} else if len(body) > 0 {
		payload = string(body)
	}
	reqID := uuid.New()
	length := strconv.Itoa(len(body))
	return map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         payload,
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": map[string]any{
				"X-Amz-Executed-Version": []any{"$LATEST"},
				"x-amzn-RequestId":       []any{reqID},
				"Content-Length":         []any{length},
				"Content-Type":           []any{"application/json"},
			},
			"HttpHeaders": map[string]any{
				"X-Amz-Executed-Version": "$LATEST",
				"x-amzn-RequestId":       reqID,
				"Content-Length":         length,
				"Content-Type":           "application/json",
			},
			"HttpStatusCode": intValue(200),
		},
		"SdkResponseMetadata": map[string]any{"RequestId": reqID},
		"StatusCode":          intValue(200),
	}
}
