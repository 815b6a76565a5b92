// Package stackoutputs reads the Outputs of a CloudFormation stack (the SAM
// application relayshift is deployed as), so the CLI can find the state
// machine, listener and target groups by stack name alone.
package stackoutputs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API is the one CloudFormation call the package makes, with the SDK's
// signature.
type API interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Actions are the IAM actions of Read.
func Actions() []string { return []string{"cloudformation:DescribeStacks"} }

// The output keys of template.yaml that the CLI reads.
const (
	StateMachineArn     = "StateMachineArn"
	ListenerArn         = "ListenerArn"
	RuleArn             = "RuleArn"
	BlueTargetGroupArn  = "BlueTargetGroupArn"
	GreenTargetGroupArn = "GreenTargetGroupArn"
	Service             = "Service"
)

// Keys lists the output keys above: template.yaml must have every one
// (the infra checks use it).
func Keys() []string {
	return []string{StateMachineArn, ListenerArn, RuleArn, BlueTargetGroupArn, GreenTargetGroupArn, Service}
}

// Read returns the outputs of the stack called name (or with that stack
// ID), by OutputKey. Errors: InvalidInput (no such stack), Throttled,
// AccessDenied.
// NOTE: DescribeStacks answers a missing stack with a ValidationError
// "Stack with id NAME does not exist" (CloudFormation API reference), not
// with a dedicated error code; any ValidationError is reported as
// InvalidInput here.
func Read(ctx context.Context, api API, name string) (map[string]string, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return nil, classify("describe stack "+name, err)
	}
	if len(out.Stacks) != 1 {
		return nil, deploy.Errorf(deploy.InvalidInput, "describe stack %s: %d stacks returned, want 1", name, len(out.Stacks))
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return outputs, nil
}

func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		// NOTE: DescribeStacks answers ValidationError for a stack that
		// does not exist (CloudFormation API reference).
		if code == "ValidationError" {
			return deploy.InvalidInput
		}
		return ""
	})
}
