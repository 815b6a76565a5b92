package stepfn

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// HistoryAPI is the one call History makes, with the SDK's signature.
type HistoryAPI interface {
	GetExecutionHistory(context.Context, *sfn.GetExecutionHistoryInput, ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

// Event is one execution history event, flattened: the fields relayshift
// reads from the event's details, whatever its type.
type Event struct {
	ID         int64
	PreviousID int64
	// Type is the AWS history event type, e.g. "TaskStateEntered",
	// "TaskFailed", "ExecutionAborted".
	Type string
	Time time.Time
	// State is the state's name, for *StateEntered and *StateExited events.
	State string
	// Input is the state's input (StateEntered) or the execution's
	// (ExecutionStarted).
	Input string
	// Output is the state's output (StateExited), the execution's
	// (ExecutionSucceeded) or the task result (TaskSucceeded,
	// LambdaFunctionSucceeded).
	Output string
	// Error and Cause are set on the failure events (TaskFailed,
	// LambdaFunctionFailed, *TimedOut, *StartFailed, ExecutionFailed,
	// ExecutionAborted, ExecutionTimedOut, EvaluationFailed).
	Error, Cause string
}

// Entered reports whether e enters a state.
func (e Event) Entered() bool { return strings.HasSuffix(e.Type, "StateEntered") }

// Exited reports whether e exits a state.
func (e Event) Exited() bool { return strings.HasSuffix(e.Type, "StateExited") }

// Terminal reports whether e ends the execution.
func (e Event) Terminal() bool {
	switch types.HistoryEventType(e.Type) {
	case types.HistoryEventTypeExecutionSucceeded, types.HistoryEventTypeExecutionFailed,
		types.HistoryEventTypeExecutionAborted, types.HistoryEventTypeExecutionTimedOut:
		return true
	}
	return false
}

// Failed reports whether e reports a failure of a task (the state may still
// retry it or catch it).
func (e Event) Failed() bool {
	switch types.HistoryEventType(e.Type) {
	case types.HistoryEventTypeTaskFailed, types.HistoryEventTypeTaskTimedOut,
		types.HistoryEventTypeTaskStartFailed, types.HistoryEventTypeTaskSubmitFailed,
		types.HistoryEventTypeLambdaFunctionFailed, types.HistoryEventTypeLambdaFunctionTimedOut,
		types.HistoryEventTypeLambdaFunctionStartFailed, types.HistoryEventTypeLambdaFunctionScheduleFailed,
		types.HistoryEventTypeEvaluationFailed:
		return true
	}
	return false
}

// CauseMessage returns the readable part of a failure's cause (an event's
// Cause, or the Cause a Catch records).
// NOTE: when a function invoked through the lambda:invoke integration
// fails, Step Functions records its error document as JSON text in the
// cause, {"errorMessage", "errorType", ...}, and its errorType as the
// error (recorded AWS histories: testdata/get-execution-history-caught.json;
// Step Functions developer guide, "Handling errors in Step Functions
// workflows"). Other causes (States.* errors, a Pass state's
// States.Format, StopExecution's cause) are plain text, returned as they
// are; so is an error document without an errorMessage.
func CauseMessage(cause string) string {
	var doc struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(strings.TrimSpace(cause)), &doc) == nil && doc.ErrorMessage != nil {
		return *doc.ErrorMessage
	}
	return cause
}

// EventOf flattens an SDK history event.
func EventOf(h types.HistoryEvent) Event {
	e := Event{ID: h.Id, PreviousID: h.PreviousEventId, Type: string(h.Type), Time: aws.ToTime(h.Timestamp)}
	failure := func(errName, cause *string) { e.Error, e.Cause = aws.ToString(errName), aws.ToString(cause) }
	switch {
	case h.StateEnteredEventDetails != nil:
		e.State, e.Input = aws.ToString(h.StateEnteredEventDetails.Name), aws.ToString(h.StateEnteredEventDetails.Input)
	case h.StateExitedEventDetails != nil:
		e.State, e.Output = aws.ToString(h.StateExitedEventDetails.Name), aws.ToString(h.StateExitedEventDetails.Output)
	case h.ExecutionStartedEventDetails != nil:
		e.Input = aws.ToString(h.ExecutionStartedEventDetails.Input)
	case h.ExecutionSucceededEventDetails != nil:
		e.Output = aws.ToString(h.ExecutionSucceededEventDetails.Output)
	case h.ExecutionFailedEventDetails != nil:
		failure(h.ExecutionFailedEventDetails.Error, h.ExecutionFailedEventDetails.Cause)
	case h.ExecutionAbortedEventDetails != nil:
		failure(h.ExecutionAbortedEventDetails.Error, h.ExecutionAbortedEventDetails.Cause)
	case h.ExecutionTimedOutEventDetails != nil:
		failure(h.ExecutionTimedOutEventDetails.Error, h.ExecutionTimedOutEventDetails.Cause)
	case h.TaskSucceededEventDetails != nil:
		e.Output = aws.ToString(h.TaskSucceededEventDetails.Output)
	case h.TaskFailedEventDetails != nil:
		failure(h.TaskFailedEventDetails.Error, h.TaskFailedEventDetails.Cause)
	case h.TaskTimedOutEventDetails != nil:
		failure(h.TaskTimedOutEventDetails.Error, h.TaskTimedOutEventDetails.Cause)
	case h.TaskStartFailedEventDetails != nil:
		failure(h.TaskStartFailedEventDetails.Error, h.TaskStartFailedEventDetails.Cause)
	case h.TaskSubmitFailedEventDetails != nil:
		failure(h.TaskSubmitFailedEventDetails.Error, h.TaskSubmitFailedEventDetails.Cause)
	case h.LambdaFunctionSucceededEventDetails != nil:
		e.Output = aws.ToString(h.LambdaFunctionSucceededEventDetails.Output)
	case h.LambdaFunctionFailedEventDetails != nil:
		failure(h.LambdaFunctionFailedEventDetails.Error, h.LambdaFunctionFailedEventDetails.Cause)
	case h.LambdaFunctionTimedOutEventDetails != nil:
		failure(h.LambdaFunctionTimedOutEventDetails.Error, h.LambdaFunctionTimedOutEventDetails.Cause)
	case h.LambdaFunctionStartFailedEventDetails != nil:
		failure(h.LambdaFunctionStartFailedEventDetails.Error, h.LambdaFunctionStartFailedEventDetails.Cause)
	case h.LambdaFunctionScheduleFailedEventDetails != nil:
		failure(h.LambdaFunctionScheduleFailedEventDetails.Error, h.LambdaFunctionScheduleFailedEventDetails.Cause)
	case h.EvaluationFailedEventDetails != nil:
		failure(h.EvaluationFailedEventDetails.Error, h.EvaluationFailedEventDetails.Cause)
	}
	return e
}

// History follows one execution's history: each Next returns the events
// that appeared since the previous call, oldest first.
//
// NOTE: GetExecutionHistory pages with nextToken, and a page without one is
// the last; a token cannot resume a history that grows afterwards. So each
// Next reads newest first (reverseOrder) and pages back, following
// nextToken, only until it reaches an event it has already returned: a poll
// costs one call while little happens, whatever the history's length.
// Events are numbered sequentially from 1 (HistoryEvent.id, Step Functions
// API reference). If a server ignores reverseOrder (its first page comes
// back oldest first), History reads the whole history in ascending order
// instead and filters by id, which is correct, only slower.
type History struct {
	api HistoryAPI
	arn string
	// PageSize is maxResults per call (AWS allows 1 to 1000).
	PageSize int32
	last     int64
}

// NewHistory returns a History of execution arn, starting before its first
// event.
func NewHistory(api HistoryAPI, arn string) *History {
	return &History{api: api, arn: arn, PageSize: 100}
}

// Next returns the new events, oldest first. Errors: InvalidInput (no such
// execution), Throttled, AccessDenied.
func (h *History) Next(ctx context.Context) ([]Event, error) {
	var fresh []Event
	var token *string
	for {
		out, err := h.api.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{
			ExecutionArn: aws.String(h.arn), ReverseOrder: true, MaxResults: h.PageSize,
			IncludeExecutionData: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			return nil, classify("read history of "+h.arn, err)
		}
		evs := out.Events
		if len(evs) > 1 && evs[0].Id < evs[len(evs)-1].Id {
			return h.ascending(ctx)
		}
		reached := false
		for _, ev := range evs {
			if ev.Id <= h.last {
				reached = true
				break
			}
			fresh = append(fresh, EventOf(ev))
		}
		token = out.NextToken
		if reached || token == nil || len(evs) == 0 {
			break
		}
	}
	return h.keep(fresh), nil
}

// ascending reads the whole history oldest first, for servers that ignore
// reverseOrder.
func (h *History) ascending(ctx context.Context) ([]Event, error) {
	var fresh []Event
	p := sfn.NewGetExecutionHistoryPaginator(h.api, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(h.arn), MaxResults: h.PageSize, IncludeExecutionData: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify("read history of "+h.arn, err)
		}
		for _, ev := range page.Events {
			if ev.Id > h.last {
				fresh = append(fresh, EventOf(ev))
			}
		}
	}
	return h.keep(fresh), nil
}

// keep sorts events by id, drops duplicates and remembers the newest.
func (h *History) keep(evs []Event) []Event {
	slices.SortFunc(evs, func(a, b Event) int { return cmp.Compare(a.ID, b.ID) })
	evs = slices.CompactFunc(evs, func(a, b Event) bool { return a.ID == b.ID })
	if n := len(evs); n > 0 {
		h.last = evs[n-1].ID
	}
	return evs
}
