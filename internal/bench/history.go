package bench

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/lab/statemachine"
)

// Invocation is one Lambda invocation a deployment caused.
type Invocation struct {
	// Function is the function's name.
	Function string
	// Via is the Task state that invoked it, or "EventBridge".
	Via string
	// Duration is how long the invocation ran: TaskStarted to its
	// TaskSucceeded/TaskFailed in the history, or the
	// EventBridge delivery's receipt to the function's answer.
	Duration time.Duration
}

// Execution is one deployment's execution, read from its history.
type Execution struct {
	ARN    string
	Status string
	// Start and Stop are the ExecutionStarted and the final event's times.
	Start, Stop time.Time
	// Entered is every state entered, in order.
	Entered []string
	// Retries counts Task attempts beyond the first per Task state entered.
	Retries int
	// Invocations are the Lambda invocations of the Task states (retries
	// included).
	Invocations []Invocation
	// ConfiguredWait is the configured duration of every Wait state
	// entered (Seconds, or SecondsPath read from the state's input) times
	// the time scale.
	ConfiguredWait time.Duration
}

// Transitions is what Step Functions Standard bills: one per state entered,
// and one per retry.
// NOTE: "Step Functions counts a state transition each time a step of your
// workflow is executed", retries included (aws.amazon.com/step-functions/
// pricing; AWS-FACTS.md: "retries count").
func (e Execution) Transitions() int { return len(e.Entered) + e.Retries }

// Total is the execution's duration.
func (e Execution) Total() time.Duration { return e.Stop.Sub(e.Start) }

// Overhead is the time the pipeline itself took: the total minus the
// configured bake and wait time.
func (e Execution) Overhead() time.Duration { return e.Total() - e.ConfiguredWait }

// waitSpec is a Wait state's configured duration.
type waitSpec struct {
	Seconds     *float64 `json:"Seconds"`
	SecondsPath string   `json:"SecondsPath"`
}

// waitSpecs reads the Wait states of an ASL definition.
func waitSpecs(asl []byte) (map[string]waitSpec, error) {
	var def struct {
		States map[string]struct {
			Type string `json:"Type"`
			waitSpec
		} `json:"States"`
	}
	if err := json.Unmarshal(asl, &def); err != nil {
		return nil, fmt.Errorf("state machine definition: %w", err)
	}
	out := map[string]waitSpec{}
	for name, s := range def.States {
		if s.Type == "Wait" {
			out[name] = s.waitSpec
		}
	}
	return out, nil
}

// seconds returns the configured seconds of a Wait state entered with
// input, and whether they could be determined (Seconds, or a SecondsPath
// of the form $.a.b that resolves to a number; the deployment definition's
// Wait states use only these, and no InputPath).
func (w waitSpec) seconds(input string) (float64, bool) {
	if w.Seconds != nil {
		return *w.Seconds, true
	}
	if !strings.HasPrefix(w.SecondsPath, "$.") {
		return 0, false
	}
	var v any
	if err := json.Unmarshal([]byte(input), &v); err != nil {
		return 0, false
	}
	for _, k := range strings.Split(strings.TrimPrefix(w.SecondsPath, "$."), ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[k]
	}
	switch n := v.(type) {
	case float64:
		return n, true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// analyse reads an execution's history. waits are the definition's Wait
// states; timeScale the lab's.
func analyse(arn string, events []statemachine.Event, waits map[string]waitSpec, timeScale float64) (Execution, error) {
	x := Execution{ARN: arn}
	if len(events) == 0 {
		return x, fmt.Errorf("execution %s: empty history", arn)
	}
	x.Start, x.Stop = events[0].Timestamp, events[len(events)-1].Timestamp
	var (
		taskState string
		attempts  int
		fn        string
		started   time.Time
		inFlight  bool
		closeTask = func(at time.Time) {
			x.Invocations = append(x.Invocations, Invocation{Function: fn, Via: taskState, Duration: at.Sub(started)})
			inFlight = false
		}
		statusOfEv = map[string]string{"ExecutionSucceeded": statemachine.StatusSucceeded, "ExecutionFailed": statemachine.StatusFailed, "ExecutionAborted": statemachine.StatusAborted}
	)
	for _, e := range events {
		switch {
		case e.StateEntered != nil:
			x.Entered = append(x.Entered, e.StateEntered.Name)
			switch e.Type {
			case "TaskStateEntered":
				taskState, attempts = e.StateEntered.Name, 0
			case "WaitStateEntered":
				waitState := e.StateEntered.Name
				spec, ok := waits[waitState]
				if !ok {
					return x, fmt.Errorf("execution %s: Wait state %q is not in the definition", arn, waitState)
				}
				secs, ok := spec.seconds(e.StateEntered.Input)
				if !ok {
					return x, fmt.Errorf("execution %s: cannot tell how long Wait state %q was configured to wait", arn, waitState)
				}
				x.ConfiguredWait += time.Duration(secs * timeScale * float64(time.Second))
			}
		case e.TaskScheduled != nil:
			attempts++
			if attempts > 1 {
				x.Retries++
			}
			var p struct {
				FunctionName string `json:"FunctionName"`
			}
			if err := json.Unmarshal([]byte(e.TaskScheduled.Parameters), &p); err != nil {
				return x, fmt.Errorf("execution %s: TaskScheduled parameters: %w", arn, err)
			}
			name, _, err := statemachine.FunctionName(p.FunctionName)
			if err != nil {
				return x, fmt.Errorf("execution %s: %w", arn, err)
			}
			fn = name
		case e.TaskStarted != nil:
			started, inFlight = e.Timestamp, true
		case e.TaskSucceeded != nil || e.TaskFailed != nil:
			if inFlight {
				closeTask(e.Timestamp)
			}
		}
		if s, ok := statusOfEv[e.Type]; ok {
			x.Status = s
		}
	}
	// An execution stopped during a Task: the function, which Step
	// Functions does not interrupt, is counted until the stop.
	if inFlight {
		closeTask(x.Stop)
	}
	return x, nil
}
