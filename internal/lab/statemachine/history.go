package statemachine

import (
	"encoding/json"
	"strconv"
	"time"
)

// Event is one execution history event, shaped like the HistoryEvent of
// the Step Functions API (GetExecutionHistory): the JSON encoding of an
// Event is what the API returns.
// NOTE: for the lambda:invoke integration AWS records TaskScheduled,
// TaskStarted and TaskSucceeded/TaskFailed events with resourceType
// "lambda" and resource "invoke" (not the LambdaFunction* events of the
// legacy Lambda-ARN resource); ids start at 1 and the first state's
// ...StateEntered has previousEventId 0 (histories recorded against AWS in
// localstack's test_lambda_task_service snapshots).
type Event struct {
	Timestamp       time.Time
	Type            string
	ID              int64
	PreviousEventID int64

	ExecutionStarted   *ExecutionStartedDetails
	ExecutionSucceeded *OutputDetails
	ExecutionFailed    *FailureDetails
	ExecutionAborted   *FailureDetails
	StateEntered       *StateEnteredDetails
	StateExited        *StateExitedDetails
	TaskScheduled      *TaskScheduledDetails
	TaskStarted        *TaskResource
	TaskSucceeded      *TaskSucceededDetails
	TaskFailed         *TaskFailureDetails
}

// ExecutionStartedDetails are an ExecutionStarted event's details.
type ExecutionStartedDetails struct {
	Input        string       `json:"input,omitempty"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
	RoleArn      string       `json:"roleArn,omitempty"`
}

// DataDetails says whether an event's data was truncated.
type DataDetails struct {
	Truncated bool `json:"truncated"`
}

// OutputDetails are an ExecutionSucceeded event's details.
type OutputDetails struct {
	Output        string       `json:"output,omitempty"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// FailureDetails are the details of ExecutionFailed and ExecutionAborted.
type FailureDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// StateEnteredDetails are the details of every ...StateEntered event.
type StateEnteredDetails struct {
	Name         string       `json:"name"`
	Input        string       `json:"input,omitempty"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
}

// StateExitedDetails are the details of every ...StateExited event.
type StateExitedDetails struct {
	Name          string       `json:"name"`
	Output        string       `json:"output,omitempty"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// TaskResource names a task's integration: resourceType "lambda",
// resource "invoke".
type TaskResource struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
}

// TaskScheduledDetails are a TaskScheduled event's details.
type TaskScheduledDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Region       string `json:"region"`
	Parameters   string `json:"parameters,omitempty"`
}

// TaskSucceededDetails are a TaskSucceeded event's details.
type TaskSucceededDetails struct {
	ResourceType  string       `json:"resourceType"`
	Resource      string       `json:"resource"`
	Output        string       `json:"output,omitempty"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// TaskFailureDetails are the details of TaskFailed.
type TaskFailureDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Error        string `json:"error,omitempty"`
	Cause        string `json:"cause,omitempty"`
}

// MarshalJSON encodes the event as the API does: the timestamp in epoch
// seconds, the details under their <type>EventDetails member.
func (e Event) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"timestamp":       epochSeconds(e.Timestamp),
		"type":            e.Type,
		"id":              e.ID,
		"previousEventId": e.PreviousEventID,
	}
	put := func(key string, v any, present bool) {
		if present {
			m[key] = v
		}
	}
	put("executionStartedEventDetails", e.ExecutionStarted, e.ExecutionStarted != nil)
	put("executionSucceededEventDetails", e.ExecutionSucceeded, e.ExecutionSucceeded != nil)
	put("executionFailedEventDetails", e.ExecutionFailed, e.ExecutionFailed != nil)
	put("executionAbortedEventDetails", e.ExecutionAborted, e.ExecutionAborted != nil)
	put("stateEnteredEventDetails", e.StateEntered, e.StateEntered != nil)
	put("stateExitedEventDetails", e.StateExited, e.StateExited != nil)
	put("taskScheduledEventDetails", e.TaskScheduled, e.TaskScheduled != nil)
	put("taskStartedEventDetails", e.TaskStarted, e.TaskStarted != nil)
	put("taskSucceededEventDetails", e.TaskSucceeded, e.TaskSucceeded != nil)
	put("taskFailedEventDetails", e.TaskFailed, e.TaskFailed != nil)
	return json.Marshal(m)
}

// withoutData returns a copy of the event without its execution data
// (inputs, outputs, task parameters), for includeExecutionData=false.
func (e Event) withoutData() Event {
	if d := e.ExecutionStarted; d != nil {
		c := *d
		c.Input = ""
		e.ExecutionStarted = &c
	}
	if d := e.ExecutionSucceeded; d != nil {
		c := *d
		c.Output = ""
		e.ExecutionSucceeded = &c
	}
	if d := e.StateEntered; d != nil {
		c := *d
		c.Input = ""
		e.StateEntered = &c
	}
	if d := e.StateExited; d != nil {
		c := *d
		c.Output = ""
		e.StateExited = &c
	}
	if d := e.TaskScheduled; d != nil {
		c := *d
		c.Parameters = ""
		e.TaskScheduled = &c
	}
	if d := e.TaskSucceeded; d != nil {
		c := *d
		c.Output = ""
		e.TaskSucceeded = &c
	}
	return e
}

// epochSeconds encodes t as the awsJson protocols do: seconds since the
// epoch, with milliseconds.
func epochSeconds(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}
