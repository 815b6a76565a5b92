package stepfn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relayshift/relayshift/internal/deploy"
)

// ControlAPI lists the Step Functions calls Control makes: those of API plus
// StartExecution, with the SDK's signatures, so *sfn.Client satisfies it.
type ControlAPI interface {
	API
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Control is the Step Functions side of the relayshift CLI: it starts
// deployments idempotently, describes and lists them, and reads their
// history. It embeds Executions, so it also implements deploy.Executions
// (the rollback path shared with the rollback function).
type Control struct {
	*Executions
	api ControlAPI
}

// NewControl returns a Control backed by api.
func NewControl(api ControlAPI) *Control {
	return &Control{Executions: New(api), api: api}
}

// ControlActions are the IAM actions of every Control method (the CLI's
// Step Functions permissions).
func ControlActions() []string {
	return []string{
		"states:StartExecution", "states:DescribeExecution", "states:ListExecutions",
		"states:GetExecutionHistory", "states:StopExecution",
	}
}

// Detail is what DescribeExecution says about an execution.
type Detail struct {
	ARN             string
	Name            string
	StateMachineARN string
	Status          deploy.ExecutionStatus
	Started         time.Time
	// Stopped is zero while the execution runs.
	Stopped time.Time
	// Input and Output are the execution's JSON input and output (output
	// only when it succeeded).
	Input, Output string
	// Error and Cause are set when the execution failed, was aborted with
	// an error (StopExecution) or timed out.
	Error, Cause string
}

// Execution returns the deploy.Execution view of d.
func (d Detail) Execution() deploy.Execution {
	return deploy.Execution{ARN: d.ARN, Name: d.Name, Status: d.Status, Started: d.Started}
}

// Ended reports whether the execution has stopped running.
func (d Detail) Ended() bool { return d.Status != deploy.Running }

// ExecutionARN returns the ARN of the execution called name of the state
// machine stateMachineARN.
// NOTE: Standard workflow execution ARNs are the state machine's ARN with
// ":stateMachine:" replaced by ":execution:" and ":<name>" appended (Step
// Functions API reference, DescribeExecution / StartExecution examples).
func ExecutionARN(stateMachineARN, name string) (string, error) {
	head, sm, ok := strings.Cut(stateMachineARN, ":stateMachine:")
	if !ok || sm == "" || strings.Contains(sm, ":") {
		return "", deploy.Errorf(deploy.InvalidInput, "%q is not a state machine ARN", stateMachineARN)
	}
	return head + ":execution:" + sm + ":" + name, nil
}

// Started reports what Start did.
type Started struct {
	ARN string
	// Existing is true when an execution with the name already existed and
	// could not be started again (it had ended, or runs with another
	// input): Start returns its ARN to attach to instead.
	Existing bool
}

// Start starts an execution called name with input. Starting the same
// deployment twice is idempotent:
//
// NOTE: for a Standard workflow, StartExecution with the name and input of a
// RUNNING execution succeeds and returns that execution; with the name of an
// execution that has ended, or a different input, it fails with
// ExecutionAlreadyExists (names are unique for 90 days). Step Functions API
// reference, StartExecution; moto 5.2.1 behaves the same (AWS-FACTS.md).
// On ExecutionAlreadyExists, Start returns the existing execution's ARN
// (derived from the state machine ARN) with Existing set.
//
// Errors: InvalidInput (bad name, input or state machine), Throttled,
// AccessDenied, RequestRejected (too many running executions).
func (c *Control) Start(ctx context.Context, stateMachineARN, name, input string) (Started, error) {
	arn, err := ExecutionARN(stateMachineARN, name)
	if err != nil {
		return Started{}, err
	}
	out, err := c.api.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(stateMachineARN), Name: aws.String(name), Input: aws.String(input),
	})
	var exists *types.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		return Started{ARN: arn, Existing: true}, nil
	case err != nil:
		return Started{}, classify("start execution "+name, err)
	}
	return Started{ARN: aws.ToString(out.ExecutionArn)}, nil
}

// Recent returns the n most recent executions of the state machine, of any
// status, newest first, each described (for its input, error and cause).
// NOTE: ListExecutions returns executions newest first (Step Functions API
// reference: "Results are sorted by time, with the most recent execution
// first"); Recent sorts nothing itself and stops after n.
func (c *Control) Recent(ctx context.Context, stateMachineARN string, n int) ([]Detail, error) {
	if n <= 0 {
		return nil, nil
	}
	var arns []string
	p := sfn.NewListExecutionsPaginator(c.api, &sfn.ListExecutionsInput{
		StateMachineArn: aws.String(stateMachineARN), MaxResults: int32(min(n, 1000)),
	})
	for p.HasMorePages() && len(arns) < n {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify("list executions of "+stateMachineARN, err)
		}
		for _, x := range page.Executions {
			if len(arns) < n {
				arns = append(arns, aws.ToString(x.ExecutionArn))
			}
		}
	}
	out := make([]Detail, 0, len(arns))
	for _, arn := range arns {
		d, err := c.Detail(ctx, arn)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// StateNow is the state an execution is in.
type StateNow struct {
	// Name is the state's name; empty when the execution has not entered
	// one yet (or has ended).
	Name string
	// Type is the history event type that entered it, e.g.
	// "WaitStateEntered".
	Type string
	// Since is when it was entered.
	Since time.Time
}

// CurrentState returns the state the execution entered last; it is zero
// when the execution has ended or has not entered a state yet.
//
// It reads the history newest first and pages back until it finds a state
// entry or the end of the execution: a state that retries writes three
// events per attempt (TaskScheduled, TaskStarted, TaskFailed), so a health
// check retrying TargetsNotReady ten times pushes its TaskStateEntered
// more than 30 events back. A server that ignores reverseOrder (History's
// NOTE) is read to the end instead, keeping the last entry.
func (c *Control) CurrentState(ctx context.Context, arn string) (StateNow, error) {
	p := sfn.NewGetExecutionHistoryPaginator(c.api, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, MaxResults: 100, IncludeExecutionData: aws.Bool(false),
	})
	var last StateNow
	first, ascending := true, false
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return StateNow{}, classify("read history of "+arn, err)
		}
		if evs := page.Events; first && len(evs) > 1 {
			ascending = evs[0].Id < evs[len(evs)-1].Id
		}
		first = false
		for _, h := range page.Events {
			e := EventOf(h)
			var now StateNow
			switch {
			case e.Terminal():
			case e.Entered():
				now = StateNow{Name: e.State, Type: e.Type, Since: e.Time}
			default:
				continue
			}
			if !ascending {
				return now, nil
			}
			last = now
		}
	}
	return last, nil
}

// String renders d briefly, for logs.
func (d Detail) String() string {
	return fmt.Sprintf("%s %s", d.Name, d.Status)
}

// History returns a History following execution arn.
func (c *Control) History(arn string) *History { return NewHistory(c.api, arn) }
