package stepfntest

import (
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// scripted is one history event due at an offset from the execution's
// start.
type scripted struct {
	at    time.Duration
	event map[string]any
}

// Script writes an execution's history the way Step Functions records a
// Standard workflow using the optimized Lambda integration
// (arn:aws:states:::lambda:invoke), keeping the state document as
// ResultPath would. The shapes follow the Step Functions API reference
// (HistoryEvent and its *EventDetails) and recorded AWS histories:
//
//   - a state is entered with its input and exited with its output
//     (<Type>StateEntered / <Type>StateExited, stateEnteredEventDetails /
//     stateExitedEventDetails, input and output as JSON strings);
//   - a Lambda task attempt is TaskScheduled, TaskStarted, then
//     TaskSucceeded (output: the invoke result, {"Payload": ...}) or
//     TaskFailed (error: the function's errorType; cause: its error
//     payload as a JSON string);
//   - a caught failure is followed by the task's StateExited, whose output
//     holds the error under the Catch's ResultPath ({"Error","Cause"});
//     an uncaught one by ExecutionFailed;
//   - a Fail state is FailStateEntered then ExecutionFailed; StopExecution
//     ends the history with ExecutionAborted.
//
// Each method advances the script's clock by what it says, so a scenario
// reads like the execution it stands for.
type Script struct {
	doc    map[string]json.RawMessage
	at     time.Duration
	events []scripted

	state, typ        string
	lastErr, lastMsg  string
	lastCause         string
	functionArnPrefix string
}

func newScript(input string) *Script {
	s := &Script{doc: map[string]json.RawMessage{},
		functionArnPrefix: "arn:aws:lambda:" + Region + ":" + Account + ":function:relayshift-"}
	_ = json.Unmarshal([]byte(input), &s.doc)
	s.emit(map[string]any{"type": "ExecutionStarted", "executionStartedEventDetails": map[string]any{
		"input": input, "inputDetails": map[string]bool{"truncated": false},
		"roleArn": "arn:aws:iam::" + Account + ":role/relayshift-statemachine",
	}})
	return s
}

func (s *Script) emit(ev map[string]any) {
	s.events = append(s.events, scripted{at: s.at, event: ev})
}

func (s *Script) document() string {
	b, _ := json.Marshal(s.doc)
	return string(b)
}

// At returns the script's clock: the offset of the next event.
func (s *Script) At() time.Duration { return s.at }

// Elapse advances the script's clock.
func (s *Script) Elapse(d time.Duration) *Script {
	s.at += d
	return s
}

// Enter enters state name of type typ (Task, Wait, Choice, Pass, Fail,
// Succeed) with the current document as input.
func (s *Script) Enter(typ, name string) *Script {
	s.state, s.typ = name, typ
	s.emit(map[string]any{"type": typ + "StateEntered", "stateEnteredEventDetails": map[string]any{
		"name": name, "input": s.document(), "inputDetails": map[string]bool{"truncated": false},
	}})
	return s
}

func (s *Script) schedule() {
	fn := strings.ToLower(s.state)
	params, _ := json.Marshal(map[string]any{"FunctionName": s.functionArnPrefix + fn, "Payload": map[string]string{"executionArn": "..."}})
	s.emit(map[string]any{"type": "TaskScheduled", "taskScheduledEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke", "region": Region, "parameters": string(params),
	}})
	s.emit(map[string]any{"type": "TaskStarted", "taskStartedEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke",
	}})
}

// Succeed is one successful attempt of the current Lambda task taking took;
// its result is written under key (ResultSelector $.Payload, ResultPath
// $.key).
func (s *Script) Succeed(took time.Duration, key string, result any) *Script {
	s.schedule()
	s.at += took
	payload, _ := json.Marshal(result)
	out, _ := json.Marshal(map[string]any{"ExecutedVersion": "$LATEST", "Payload": json.RawMessage(payload), "StatusCode": 200})
	s.emit(map[string]any{"type": "TaskSucceeded", "taskSucceededEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke", "output": string(out),
		"outputDetails": map[string]bool{"truncated": false},
	}})
	if key != "" {
		s.doc[key] = payload
	}
	return s
}

// Fail is one failed attempt of the current Lambda task taking took: the
// function returned errorType errName with message.
func (s *Script) Fail(took time.Duration, errName, message string) *Script {
	s.schedule()
	s.at += took
	cause, _ := json.Marshal(map[string]string{"errorMessage": message, "errorType": errName})
	s.lastErr, s.lastMsg, s.lastCause = errName, message, string(cause)
	s.emit(map[string]any{"type": "TaskFailed", "taskFailedEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke", "error": errName, "cause": string(cause),
	}})
	return s
}

// Catch records the last failure under key, as a Catch with ResultPath
// "$.key" does, and exits the state.
func (s *Script) Catch(key string) *Script {
	b, _ := json.Marshal(map[string]string{"Error": s.lastErr, "Cause": s.lastCause})
	s.doc[key] = b
	return s.Exit()
}

// Set writes value under key in the document (a Pass state's Result).
func (s *Script) Set(key string, value any) *Script {
	b, _ := json.Marshal(value)
	s.doc[key] = b
	return s
}

// Exit exits the current state with the document as output.
func (s *Script) Exit() *Script {
	s.emit(map[string]any{"type": s.typ + "StateExited", "stateExitedEventDetails": map[string]any{
		"name": s.state, "output": s.document(), "outputDetails": map[string]bool{"truncated": false},
	}})
	return s
}

// Task is a Lambda task state that succeeds on its first attempt.
func (s *Script) Task(name string, took time.Duration, key string, result any) *Script {
	return s.Enter("Task", name).Succeed(took, key, result).Exit()
}

// Wait is a Wait state lasting d.
func (s *Script) Wait(name string, d time.Duration) *Script {
	return s.Enter("Wait", name).Elapse(d).Exit()
}

// Choice is a Choice state.
func (s *Script) Choice(name string) *Script {
	return s.Enter("Choice", name).Exit()
}

// Pass is a Pass state writing value under key.
func (s *Script) Pass(name, key string, value any) *Script {
	return s.Enter("Pass", name).Set(key, value).Exit()
}

// FailState enters a Fail state, which fails the execution with errName
// and cause.
func (s *Script) FailState(name, errName, cause string) *Script {
	s.Enter("Fail", name)
	s.emit(map[string]any{"type": "ExecutionFailed", "executionFailedEventDetails": map[string]any{
		"error": errName, "cause": cause,
	}})
	return s
}

// Uncaught fails the execution with the last task failure (no Catch
// matched it).
func (s *Script) Uncaught() *Script {
	s.emit(map[string]any{"type": "ExecutionFailed", "executionFailedEventDetails": map[string]any{
		"error": s.lastErr, "cause": s.lastCause,
	}})
	return s
}

// Succeeded enters a Succeed state and ends the execution successfully
// with the document as output.
func (s *Script) Succeeded(name string) *Script {
	s.Enter("Succeed", name).Exit()
	s.emit(map[string]any{"type": "ExecutionSucceeded", "executionSucceededEventDetails": map[string]any{
		"output": s.document(), "outputDetails": map[string]bool{"truncated": false},
	}})
	return s
}

// TimedOut ends the execution with ExecutionTimedOut (TimeoutSeconds of
// the state machine elapsed).
func (s *Script) TimedOut() *Script {
	s.emit(map[string]any{"type": "ExecutionTimedOut", "executionTimedOutEventDetails": map[string]any{
		"error": "States.Timeout", "cause": "The execution timed out.",
	}})
	return s
}

// Stop is StopExecution called by another actor (the rollback function):
// the history ends with ExecutionAborted carrying errName and cause.
func (s *Script) Stop(errName, cause string) *Script {
	s.emit(map[string]any{"type": "ExecutionAborted", "executionAbortedEventDetails": map[string]any{
		"error": errName, "cause": cause,
	}})
	return s
}

// Doc returns a copy of the document as it stands in the script.
func (s *Script) Doc() map[string]json.RawMessage { return maps.Clone(s.doc) }
