package stepfntest

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
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
//
// With a Definition (Server.Definition), the script is checked against it
// as it is written: each state must exist with the type the method says
// and be reachable from the state before it (the first from StartAt); a
// task's result goes through the state's ResultSelector and lands under
// its ResultPath, so the document holds exactly what the state machine
// keeps; a Catch, a Pass result and a Fail state's cause are the
// definition's. A mismatch fails the test.
type Script struct {
	doc    map[string]json.RawMessage
	at     time.Duration
	events []scripted

	def  *Definition
	fail func(format string, args ...any)

	state, typ        string
	lastErr, lastMsg  string
	lastCause         string
	functionArnPrefix string
}

func newScript(input string, def *Definition, fail func(string, ...any)) *Script {
	s := &Script{doc: map[string]json.RawMessage{}, def: def, fail: fail,
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
	if s.def != nil {
		st, ok := s.def.States[name]
		switch {
		case !ok:
			s.fail("script: the definition has no state %q", name)
		case st.Type != typ:
			s.fail("script: state %q is a %s state, not %s", name, st.Type, typ)
		case s.state == "" && name != s.def.StartAt:
			s.fail("script: the execution starts at %q, not %q", s.def.StartAt, name)
		case s.state != "" && !slices.Contains(s.def.Successors(s.state), name):
			s.fail("script: state %q cannot follow %q (it leads to %v)", name, s.state, s.def.Successors(s.state))
		}
	}
	s.state, s.typ = name, typ
	s.emit(map[string]any{"type": typ + "StateEntered", "stateEnteredEventDetails": map[string]any{
		"name": name, "input": s.document(), "inputDetails": map[string]bool{"truncated": false},
	}})
	return s
}

func (s *Script) schedule() {
	fn := strings.ToLower(s.state)
	if s.def != nil {
		fn = s.def.States[s.state].FunctionName()
	}
	params, _ := json.Marshal(map[string]any{"FunctionName": s.functionArnPrefix + fn, "Payload": map[string]string{"executionArn": "..."}})
	s.emit(map[string]any{"type": "TaskScheduled", "taskScheduledEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke", "region": Region, "parameters": string(params),
	}})
	s.emit(map[string]any{"type": "TaskStarted", "taskStartedEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke",
	}})
}

// Succeed is one successful attempt of the current Lambda task taking took:
// the function returned result (its JSON encoding). It is written under key
// (ResultPath $.key), as the definition's ResultSelector keeps it (without
// a Definition, as it is).
func (s *Script) Succeed(took time.Duration, key string, result any) *Script {
	s.schedule()
	s.at += took
	payload, err := json.Marshal(result)
	if err != nil {
		s.fail("script: state %q: encode the result: %v", s.state, err)
	}
	out, _ := json.Marshal(map[string]any{"ExecutedVersion": "$LATEST", "Payload": json.RawMessage(payload), "StatusCode": 200})
	s.emit(map[string]any{"type": "TaskSucceeded", "taskSucceededEventDetails": map[string]any{
		"resourceType": "lambda", "resource": "invoke", "output": string(out),
		"outputDetails": map[string]bool{"truncated": false},
	}})
	if s.def != nil {
		s.checkKey(s.def.States[s.state].ResultPath, key)
		if payload, err = s.def.Select(s.state, payload); err != nil {
			s.fail("script: %v", err)
		}
	}
	if key != "" {
		s.doc[key] = payload
	}
	return s
}

// checkKey fails the script when resultPath is not $.key.
func (s *Script) checkKey(resultPath, key string) {
	if k, err := Key(resultPath); err != nil || k != key {
		s.fail("script: state %q writes ResultPath %q, not $.%s", s.state, resultPath, key)
	}
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
	if s.def != nil {
		if rp, ok := s.def.States[s.state].catches(s.lastErr); !ok {
			s.fail("script: state %q has no Catch for %s", s.state, s.lastErr)
		} else {
			s.checkKey(rp, key)
		}
	}
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

// Wait is a Wait state lasting d (with a Definition, d must be the state's
// Seconds, or the value at its SecondsPath).
func (s *Script) Wait(name string, d time.Duration) *Script {
	s.Enter("Wait", name)
	if s.def != nil {
		st := s.def.States[name]
		secs := -1
		if st.Seconds != nil {
			secs = *st.Seconds
		} else if v, ok := pathValue(s.doc, st.SecondsPath); ok {
			_ = json.Unmarshal(v, &secs)
		}
		if time.Duration(secs)*time.Second != d {
			s.fail("script: Wait state %q waits %ds, not %s", name, secs, d)
		}
	}
	return s.Elapse(d).Exit()
}

// Choice is a Choice state.
func (s *Script) Choice(name string) *Script {
	return s.Enter("Choice", name).Exit()
}

// Pass is a Pass state writing value under key (with a Definition: under
// its ResultPath; value must equal its Result, or have the fields of its
// Parameters, whose intrinsic functions the script does not evaluate).
func (s *Script) Pass(name, key string, value any) *Script {
	s.Enter("Pass", name)
	if s.def != nil {
		st := s.def.States[name]
		s.checkKey(st.ResultPath, key)
		got, _ := json.Marshal(value)
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(got, &fields)
		switch {
		case st.Result != nil:
			if !jsonEqual(st.Result, got) {
				s.fail("script: Pass state %q writes %s, not %s", name, st.Result, got)
			}
		default:
			var want []string
			for k := range st.Parameters {
				want = append(want, strings.TrimSuffix(k, ".$"))
			}
			if !slices.Equal(sortedKeys(fields), sorted(want)) {
				s.fail("script: Pass state %q writes the fields %v, not %v", name, sorted(want), sortedKeys(fields))
			}
		}
	}
	return s.Set(key, value).Exit()
}

// FailState enters a Fail state, which fails the execution with errName
// and cause (with a Definition, they must be the state's Error and its
// Cause or the value at its CausePath).
func (s *Script) FailState(name, errName, cause string) *Script {
	s.Enter("Fail", name)
	if s.def != nil {
		st := s.def.States[name]
		want := st.Cause
		if v, ok := pathValue(s.doc, st.CausePath); ok {
			_ = json.Unmarshal(v, &want)
		}
		if st.Error != errName || want != cause {
			s.fail("script: Fail state %q fails with %s (%q), not %s (%q)", name, st.Error, want, errName, cause)
		}
	}
	s.emit(map[string]any{"type": "ExecutionFailed", "executionFailedEventDetails": map[string]any{
		"error": errName, "cause": cause,
	}})
	return s
}

// Uncaught fails the execution with the last task failure (no Catch
// matched it).
func (s *Script) Uncaught() *Script {
	if s.def != nil {
		if _, ok := s.def.States[s.state].catches(s.lastErr); ok {
			s.fail("script: state %q catches %s", s.state, s.lastErr)
		}
	}
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

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func sortedKeys(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
