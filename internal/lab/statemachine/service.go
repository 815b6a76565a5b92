package statemachine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// Options configure a Service.
type Options struct {
	// Invoker runs the Lambda tasks. Required.
	Invoker Invoker
	// Region and Account make the ARNs (default us-east-1, 123456789012).
	Region, Account string
	// Clock is the time source (default RealClock).
	Clock Clock
	// TimeScale multiplies every Wait duration and retry interval of the
	// definitions (0 or 1: real time; 0.01: a 5-minute bake takes 3 s).
	TimeScale float64
	// Log receives the execution lifecycle (default: discarded).
	Log *slog.Logger
}

// Service is the lab's Step Functions: state machines, their executions
// run by the engine, and the Step Functions API (awsJson1_0) served by
// ServeHTTP.
type Service struct {
	invoker   Invoker
	region    string
	account   string
	clock     Clock
	timeScale float64
	log       *slog.Logger

	ctx    context.Context // canceled by Close: ends executions and invocations
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex
	stateMachines map[string]*stateMachine // by ARN
	executions    map[string]*execution    // by ARN
	closed        bool
}

type stateMachine struct {
	arn, name, roleARN string
	def                *Definition
	created            time.Time
}

// NewService returns a Service. Close it to stop every execution.
func NewService(opts Options) (*Service, error) {
	if opts.Invoker == nil {
		return nil, errors.New("statemachine: Options.Invoker is required")
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("statemachine: TimeScale %v is negative", opts.TimeScale)
	}
	s := &Service{
		invoker: opts.Invoker, region: opts.Region, account: opts.Account,
		clock: opts.Clock, timeScale: opts.TimeScale, log: opts.Log,
		stateMachines: map[string]*stateMachine{}, executions: map[string]*execution{},
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.account == "" {
		s.account = "123456789012"
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.timeScale == 0 {
		s.timeScale = 1
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops every running execution (without recording an abort: the
// lab is going away) and waits for their goroutines and the Lambda
// invocations in flight, whose context it cancels.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// APIError is an error of the Step Functions API: Code is the exception
// name the SDK maps to its error types (ExecutionDoesNotExist,
// InvalidDefinition...).
type APIError struct {
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StateMachine describes a state machine.
type StateMachine struct {
	ARN        string
	Name       string
	RoleARN    string
	Definition string
	Created    time.Time
}

// NOTE: state machine and execution names are 1 to 80 characters without
// white space, brackets < > { } [ ], wildcards ? *, the characters
// " # % \ ^ | ~ ` $ & , ; : / or control characters (Step Functions API
// reference, StartExecution name).
func validName(name string) bool {
	if name == "" || len([]rune(name)) > 80 {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) ||
			r <= 0x1f || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}

// CreateStateMachine registers def under name. Creating the same name with
// the same definition and role again returns the existing state machine;
// otherwise a second create fails with StateMachineAlreadyExists.
func (s *Service) CreateStateMachine(name, roleARN string, def *Definition) (StateMachine, error) {
	if !validName(name) {
		return StateMachine{}, apiErr("InvalidName", "Invalid Name: '%s'", name)
	}
	if !roleARNRE.MatchString(roleARN) {
		return StateMachine{}, apiErr("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", roleARN)
	}
	arn := fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.region, s.account, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sm, ok := s.stateMachines[arn]; ok {
		if sm.def.Text() == def.Text() && sm.roleARN == roleARN {
			return sm.describe(), nil
		}
		return StateMachine{}, apiErr("StateMachineAlreadyExists", "State Machine Already Exists: '%s'", arn)
	}
	sm := &stateMachine{arn: arn, name: name, roleARN: roleARN, def: def, created: s.clock.Now()}
	s.stateMachines[arn] = sm
	return sm.describe(), nil
}

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)

func (sm *stateMachine) describe() StateMachine {
	return StateMachine{ARN: sm.arn, Name: sm.name, RoleARN: sm.roleARN, Definition: sm.def.Text(), Created: sm.created}
}

// DescribeStateMachine returns the state machine arn names.
func (s *Service) DescribeStateMachine(arn string) (StateMachine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.stateMachineLocked(arn)
	if err != nil {
		return StateMachine{}, err
	}
	return sm.describe(), nil
}

// StateMachines lists the state machines by name.
func (s *Service) StateMachines() []StateMachine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StateMachine, 0, len(s.stateMachines))
	for _, sm := range s.stateMachines {
		out = append(out, sm.describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var (
	stateMachineARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$`)
	executionARNRE    = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$`)
)

func (s *Service) stateMachineLocked(arn string) (*stateMachine, error) {
	if !stateMachineARNRE.MatchString(arn) {
		return nil, apiErr("InvalidArn", "Invalid Arn: '%s'", arn)
	}
	sm, ok := s.stateMachines[arn]
	if !ok {
		return nil, apiErr("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn)
	}
	return sm, nil
}

func (s *Service) executionLocked(arn string) (*execution, error) {
	if !executionARNRE.MatchString(arn) {
		return nil, apiErr("InvalidArn", "Invalid Arn: '%s'", arn)
	}
	x, ok := s.executions[arn]
	if !ok {
		return nil, apiErr("ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	return x, nil
}

// Execution describes an execution.
type Execution struct {
	ARN             string
	StateMachineARN string
	Name            string
	Status          string
	StartDate       time.Time
	StopDate        time.Time // zero while running
	Input           string
	Output          string // set when SUCCEEDED
	Error           string // set when FAILED or ABORTED
	Cause           string
}

func (x *execution) describeLocked() Execution {
	return Execution{
		ARN: x.arn, StateMachineARN: x.sm.arn, Name: x.name, Status: x.status,
		StartDate: x.start, StopDate: x.stop, Input: x.input, Output: x.output,
		Error: x.errName, Cause: x.cause,
	}
}

// StartExecution starts an execution of the state machine. name may be
// empty (a UUID is used) and input empty ("{}").
// NOTE: "StartExecution is idempotent for STANDARD workflows. For a
// STANDARD workflow, if you call StartExecution with the same name and input
// as a running execution, the call succeeds and return the same response as
// the original request. If the execution is closed or if the input is
// different, it returns a 400 ExecutionAlreadyExists error" (Step Functions
// API reference, StartExecution).
func (s *Service) StartExecution(stateMachineARN, name, input string) (Execution, error) {
	if name == "" {
		name = uuid.New()
	}
	if !validName(name) {
		return Execution{}, apiErr("InvalidName", "Invalid Name: '%s'", name)
	}
	if input == "" {
		input = "{}"
	}
	if len(input) > maxPayloadBytes {
		return Execution{}, apiErr("InvalidExecutionInput", "Invalid State Machine Execution Input: input exceeds %d bytes", maxPayloadBytes)
	}
	inputV, err := decodeJSON([]byte(input))
	if err != nil {
		return Execution{}, apiErr("InvalidExecutionInput", "Invalid State Machine Execution Input: '%v'", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Execution{}, apiErr("ServiceUnavailable", "the lab is shutting down")
	}
	sm, err := s.stateMachineLocked(stateMachineARN)
	if err != nil {
		return Execution{}, err
	}
	arn := fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", s.region, s.account, sm.name, name)
	if x, ok := s.executions[arn]; ok {
		if x.status == StatusRunning && x.input == input {
			return x.describeLocked(), nil
		}
		return Execution{}, apiErr("ExecutionAlreadyExists", "Execution Already Exists: '%s'", arn)
	}
	x := &execution{
		svc: s, sm: sm, arn: arn, name: name, input: input, inputV: inputV,
		start: s.clock.Now(), status: StatusRunning, done: make(chan struct{}),
	}
	x.stopCtx, x.abort = context.WithCancel(s.ctx)
	x.appendLocked(Event{Type: "ExecutionStarted", ExecutionStarted: &ExecutionStartedDetails{
		Input: input, InputDetails: &DataDetails{}, RoleArn: sm.roleARN,
	}})
	s.executions[arn] = x
	s.log.Info("execution started", "execution", arn)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		x.run()
	}()
	return x.describeLocked(), nil
}

// DescribeExecution returns the execution arn names.
func (s *Service) DescribeExecution(arn string) (Execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, err := s.executionLocked(arn)
	if err != nil {
		return Execution{}, err
	}
	return x.describeLocked(), nil
}

// StopExecution aborts a running execution with errorName and cause and
// returns the stop date. A Lambda function already running is not
// interrupted (as in AWS); its result is discarded. Stopping an execution
// that has already ended changes nothing.
func (s *Service) StopExecution(arn, errorName, cause string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, err := s.executionLocked(arn)
	if err != nil {
		return time.Time{}, err
	}
	x.stopLocked(errorName, cause)
	return x.stop, nil
}

// ListExecutions lists the executions of a state machine, newest first,
// with status (empty: any).
func (s *Service) ListExecutions(stateMachineARN, status string) ([]Execution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.stateMachineLocked(stateMachineARN); err != nil {
		return nil, err
	}
	var out []Execution
	for _, x := range s.executions {
		if x.sm.arn == stateMachineARN && (status == "" || x.status == status) {
			out = append(out, x.describeLocked())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartDate.Equal(out[j].StartDate) {
			return out[i].StartDate.After(out[j].StartDate)
		}
		return out[i].ARN > out[j].ARN
	})
	return out, nil
}

// History returns the execution's events, oldest first.
func (s *Service) History(arn string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, err := s.executionLocked(arn)
	if err != nil {
		return nil, err
	}
	return slices.Clone(x.events), nil
}

// Wait blocks until the execution has ended (or ctx is done) and describes
// it. An execution stopped by StopExecution has ended even while a Lambda
// it started still runs.
func (s *Service) Wait(ctx context.Context, arn string) (Execution, error) {
	s.mu.Lock()
	x, err := s.executionLocked(arn)
	s.mu.Unlock()
	if err != nil {
		return Execution{}, err
	}
	select {
	case <-x.stopCtx.Done():
	case <-ctx.Done():
		return Execution{}, ctx.Err()
	}
	return s.DescribeExecution(arn)
}

// Task identifies the Task state on whose behalf an Invoker is called.
type Task struct {
	ExecutionARN string
	StateName    string
	// RetryCount is the number of retries of the state so far
	// ($$.State.RetryCount).
	RetryCount int
}

type taskKey struct{}

// TaskFromContext returns the Task an invocation's context carries.
func TaskFromContext(ctx context.Context) (Task, bool) {
	t, ok := ctx.Value(taskKey{}).(Task)
	return t, ok
}

// invoke runs one Lambda invocation for a Task. It stops waiting when the
// execution stops (aborted), but does not cancel the invocation then: Step
// Functions does not interrupt a running function. The invocation's
// context is canceled only by Close; the function's own timeout bounds it
// (the Invoker's).
func (s *Service) invoke(stop context.Context, task Task, fn string, payload []byte) ([]byte, *stateError, bool) {
	type result struct {
		body []byte
		err  error
	}
	ch := make(chan result, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		b, err := s.invoker.Invoke(context.WithValue(s.ctx, taskKey{}, task), fn, payload)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if stop.Err() != nil {
				return nil, nil, true
			}
			return nil, taskError(r.err), false
		}
		return r.body, nil, false
	case <-stop.Done():
		return nil, nil, true
	}
}
