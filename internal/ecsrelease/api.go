package ecsrelease

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API lists the ECS calls the release makes, with the SDK's signatures, so
// that *ecs.Client satisfies it unchanged.
type API interface {
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(context.Context, *ecs.UpdateServiceInput, ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

// IAM actions, by capability, for the template's least-privilege policy and
// the IAM coverage check.

// ReadActions are needed to read the candidate service and its task
// definition (mode external, and every check).
func ReadActions() []string {
	return []string{"ecs:DescribeServices", "ecs:DescribeTaskDefinition"}
}

// WriteActions are needed to release (mode ecs), on top of ReadActions.
//
// NOTE: RegisterTaskDefinition with tags also needs ecs:TagResource ("Grant
// permission to tag resources on creation", Amazon ECS developer guide;
// enforced since 2024), which a policy can limit with the condition
// ecs:CreateAction = RegisterTaskDefinition. Registering a task definition
// that names a task role or an execution role needs iam:PassRole on those
// roles (condition iam:PassedToService = ecs-tasks.amazonaws.com). Neither
// is an API call the emulator tier can observe.
func WriteActions() []string {
	return []string{"ecs:RegisterTaskDefinition", "ecs:UpdateService", "ecs:TagResource", "iam:PassRole"}
}

// Services names the ECS cluster and the blue and green services behind
// the target groups. Cluster and services may be names or ARNs.
type Services struct {
	Cluster     string
	Blue, Green string
}

// Configured reports whether the services are set.
func (s Services) Configured() bool { return s.Cluster != "" && s.Blue != "" && s.Green != "" }

// Of returns the service of colour c.
func (s Services) Of(c deploy.Colour) string {
	if c == deploy.Green {
		return s.Green
	}
	return s.Blue
}

// describeService returns one service, failing with ReleaseFailed when it
// is missing or not ACTIVE.
func describeService(ctx context.Context, api API, cluster, name string) (types.Service, error) {
	out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return types.Service{}, classify("describe service "+name, err)
	}
	for _, f := range out.Failures {
		return types.Service{}, deploy.Errorf(deploy.ReleaseFailed, "service %s in cluster %s: %s %s",
			name, cluster, aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	if len(out.Services) != 1 {
		return types.Service{}, deploy.Errorf(deploy.ReleaseFailed, "service %s not found in cluster %s", name, cluster)
	}
	svc := out.Services[0]
	if st := aws.ToString(svc.Status); st != "ACTIVE" {
		return types.Service{}, deploy.Errorf(deploy.ReleaseFailed, "service %s is %s, not ACTIVE", name, st)
	}
	return svc, nil
}

// primary returns the service's PRIMARY deployment.
func primary(svc types.Service) (types.Deployment, bool) {
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return d, true
		}
	}
	return types.Deployment{}, false
}

// steady reports whether a service has finished deploying, as the SDK's
// ServicesStable waiter judges it (one deployment, running == desired), and
// its primary deployment's rolloutState is COMPLETED.
// NOTE: rolloutState is only returned for services using the rolling
// update (ECS) deployment controller that are not behind a Classic Load
// Balancer (ECS API reference, Deployment); when absent, the waiter's
// condition alone decides.
func steady(svc types.Service) bool {
	p, ok := primary(svc)
	return ok && len(svc.Deployments) == 1 && svc.RunningCount == svc.DesiredCount &&
		p.RunningCount == p.DesiredCount &&
		(p.RolloutState == types.DeploymentRolloutStateCompleted || p.RolloutState == "")
}

// classify turns an SDK error into a deploy error with a name Step
// Functions can match. nil stays nil.
func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		switch code {
		case "ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException", "PlatformUnknownException",
			"PlatformTaskDefinitionIncompatibilityException":
			return deploy.ReleaseFailed
		case "ClientException", "InvalidParameterException", "ValidationException":
			return deploy.RequestRejected
		}
		return ""
	})
}

// shortTaskDefinition renders a task definition ARN as family:revision.
func shortTaskDefinition(arn string) string {
	if _, after, ok := strings.Cut(arn, ":task-definition/"); ok {
		return after
	}
	return arn
}
