package ecsrelease

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/relayshift/relayshift/internal/deploy"
)

// ReadOnlyFields are the fields of a described TaskDefinition that
// RegisterTaskDefinition does not take: ECS sets them. Every other field is
// copied (a test checks the two SDK shapes field by field).
func ReadOnlyFields() []string {
	return []string{
		"TaskDefinitionArn", "Revision", "Status", "RequiresAttributes", "Compatibilities",
		"RegisteredAt", "RegisteredBy", "DeregisteredAt", "DeleteRequestedAt",
	}
}

// NotCopiedFields are the RegisterTaskDefinition fields a copy leaves out.
//
// NOTE: InferenceAccelerators (Amazon Elastic Inference) is deprecated in
// the SDK ("This feature is no longer available"): no running task
// definition can depend on it, so it is not sent.
func NotCopiedFields() []string { return []string{"InferenceAccelerators"} }

// CopyTaskDefinition returns the RegisterTaskDefinition input that registers
// a new revision of td identical to it but for the image of container
// index i. tags are td's tags (DescribeTaskDefinition with Include TAGS);
// they are kept, except aws:-prefixed ones, which are AWS's own.
//
// NOTE: a container's cpu of 0 (what DescribeTaskDefinition reports when
// none was registered) is not sent back: ContainerDefinition.Cpu is a plain
// int32 in the SDK and its zero value is not serialised, and ECS reads an
// absent cpu as 0 (see the golden test).
//
// NOTE: tags whose key starts with "aws:" are reserved for AWS and cannot
// be set by users (Amazon ECS tagging restrictions), so they are not sent.
func CopyTaskDefinition(td *types.TaskDefinition, tags []types.Tag, i int, image string) *ecs.RegisterTaskDefinitionInput {
	containers := slices.Clone(td.ContainerDefinitions)
	containers[i].Image = aws.String(image)
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                        td.Family,
		ContainerDefinitions:          containers,
		Cpu:                           td.Cpu,
		Memory:                        td.Memory,
		EnableFaultInjection:          td.EnableFaultInjection,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		TaskRoleArn:                   td.TaskRoleArn,
		IpcMode:                       td.IpcMode,
		PidMode:                       td.PidMode,
		NetworkMode:                   td.NetworkMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
	}
	for _, t := range tags {
		if !strings.HasPrefix(strings.ToLower(aws.ToString(t.Key)), "aws:") {
			in.Tags = append(in.Tags, t)
		}
	}
	return in
}

// containerIndex picks the relay's container: the one called name, or the
// only one when name is empty.
func containerIndex(td *types.TaskDefinition, name string) (int, error) {
	var names []string
	for i, c := range td.ContainerDefinitions {
		if name != "" && aws.ToString(c.Name) == name {
			return i, nil
		}
		names = append(names, aws.ToString(c.Name))
	}
	arn := shortTaskDefinition(aws.ToString(td.TaskDefinitionArn))
	switch {
	case name != "":
		return 0, deploy.Errorf(deploy.ReleaseFailed, "task definition %s has no container %q (it has %s)", arn, name, strings.Join(names, ", "))
	case len(names) == 1:
		return 0, nil
	}
	return 0, deploy.Errorf(deploy.ReleaseFailed, "task definition %s has %d containers (%s): set RELAYSHIFT_ECS_CONTAINER to the relay's",
		arn, len(names), strings.Join(names, ", "))
}
