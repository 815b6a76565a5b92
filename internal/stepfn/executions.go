package stepfn

import (
	"context"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API lists the Step Functions calls the adapter makes, with the SDK's
// signatures.
type API interface {
	DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	ListExecutions(context.Context, *sfn.ListExecutionsInput, ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	StopExecution(context.Context, *sfn.StopExecutionInput, ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	GetExecutionHistory(context.Context, *sfn.GetExecutionHistoryInput, ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

// Executions implements deploy.Executions.
type Executions struct {
	api API
}

// New returns an Executions backed by api.
func New(api API) *Executions { return &Executions{api: api} }

// Detail describes one execution. Errors: InvalidInput (no such
// execution: the cause is a *types.ExecutionDoesNotExist), Throttled,
// AccessDenied.
func (e *Executions) Detail(ctx context.Context, arn string) (Detail, error) {
	out, err := e.api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return Detail{}, classify("describe execution "+arn, err)
	}
	return Detail{
		ARN:             aws.ToString(out.ExecutionArn),
		Name:            aws.ToString(out.Name),
		StateMachineARN: aws.ToString(out.StateMachineArn),
		Status:          deploy.ExecutionStatus(out.Status),
		Started:         aws.ToTime(out.StartDate),
		Stopped:         aws.ToTime(out.StopDate),
		Input:           aws.ToString(out.Input),
		Output:          aws.ToString(out.Output),
		Error:           aws.ToString(out.Error),
		Cause:           aws.ToString(out.Cause),
	}, nil
}

// Describe implements deploy.Executions: Detail, as a deploy.Execution.
func (e *Executions) Describe(ctx context.Context, arn string) (deploy.Execution, error) {
	d, err := e.Detail(ctx, arn)
	if err != nil {
		return deploy.Execution{}, err
	}
	return d.Execution(), nil
}

// Running implements deploy.Executions, following every page.
func (e *Executions) Running(ctx context.Context, stateMachineARN string) ([]deploy.Execution, error) {
	var out []deploy.Execution
	p := sfn.NewListExecutionsPaginator(e.api, &sfn.ListExecutionsInput{
		StateMachineArn: aws.String(stateMachineARN),
		StatusFilter:    types.ExecutionStatusRunning,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify("list running executions of "+stateMachineARN, err)
		}
		for _, x := range page.Executions {
			out = append(out, deploy.Execution{
				ARN:     aws.ToString(x.ExecutionArn),
				Name:    aws.ToString(x.Name),
				Status:  deploy.ExecutionStatus(x.Status),
				Started: aws.ToTime(x.StartDate),
			})
		}
	}
	return out, nil
}

// Stop implements deploy.Executions.
// NOTE: StopExecution's error is limited to 256 characters and its cause to
// 32768 (Step Functions API reference); longer values are cut here.
func (e *Executions) Stop(ctx context.Context, arn, errorName, cause string) error {
	_, err := e.api.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(arn),
		Error:        aws.String(truncate(errorName, 256)),
		Cause:        aws.String(truncate(cause, 32768)),
	})
	return classify("stop execution "+arn, err)
}

// truncate cuts s to at most n bytes on a rune boundary, so the API gets
// valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ReadActions are the IAM actions Describe and Running need.
func ReadActions() []string {
	return []string{"states:DescribeExecution", "states:ListExecutions"}
}

// StopActions are the IAM actions Stop needs.
func StopActions() []string {
	return []string{"states:StopExecution"}
}

// classify names the Step Functions errors of every call this package
// makes (DescribeExecution, ListExecutions, StopExecution,
// GetExecutionHistory, StartExecution) on top of awserr's throttling and
// access-denied codes. The codes are the operations' documented errors
// (Step Functions API reference).
func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		switch code {
		case "ExecutionDoesNotExist", "StateMachineDoesNotExist", "InvalidArn",
			"InvalidName", "InvalidExecutionInput", "StateMachineDeleting", "InvalidToken":
			return deploy.InvalidInput
		case "ValidationException", "ExecutionLimitExceeded":
			return deploy.RequestRejected
		}
		return ""
	})
}
