// Package ecsreleasetest provides a stateful in-memory ECS (one cluster,
// services, task definitions) implementing ecsrelease.API, for tests and
// the lab. Registering a task definition creates a revision; updating a
// service to another task definition starts a deployment, which the test
// then completes, advances, or fails (with or without a circuit-breaker
// rollback).
package ecsreleasetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

const arnPrefix = "arn:aws:ecs:us-east-1:123456789012:"

type taskDef struct {
	td   types.TaskDefinition
	tags []types.Tag
}

// ECS is the in-memory service. It is safe for concurrent use.
type ECS struct {
	mu       sync.Mutex
	cluster  string
	services map[string]*types.Service
	defs     map[string]*taskDef
	latest   map[string]int32
	seq      int
	regs     []*ecs.RegisterTaskDefinitionInput
	updates  []string
	now      func() time.Time
}

// New returns an ECS holding the empty cluster called cluster.
func New(cluster string) *ECS {
	return &ECS{
		cluster: cluster, services: map[string]*types.Service{}, defs: map[string]*taskDef{}, latest: map[string]int32{},
		now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) },
	}
}

func apiError(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// register stores a revision of td and returns its ARN. Locked.
func (f *ECS) register(td types.TaskDefinition, tags []types.Tag) types.TaskDefinition {
	family := aws.ToString(td.Family)
	f.latest[family]++
	td.Revision = f.latest[family]
	td.TaskDefinitionArn = aws.String(arnPrefix + "task-definition/" + family + ":" + strconv.Itoa(int(td.Revision)))
	td.Status = types.TaskDefinitionStatusActive
	td.RegisteredAt = aws.Time(f.now())
	td.RegisteredBy = aws.String("arn:aws:iam::123456789012:role/relayshift-release")
	td.Compatibilities = []types.Compatibility{types.CompatibilityEc2, types.CompatibilityFargate}
	f.defs[aws.ToString(td.TaskDefinitionArn)] = &taskDef{td: td, tags: slices.Clone(tags)}
	return td
}

// AddTaskDefinition registers td (its read-only fields are set by the
// fake) with tags and returns its ARN.
func (f *ECS) AddTaskDefinition(td types.TaskDefinition, tags []types.Tag) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return aws.ToString(f.register(td, tags).TaskDefinitionArn)
}

func (f *ECS) deploymentID() string {
	f.seq++
	return "ecs-svc/" + strconv.Itoa(1000000+f.seq)
}

// AddService creates a steady service running taskDefinition with desired
// tasks.
func (f *ECS) AddService(name, taskDefinition string, desired int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[name] = &types.Service{
		ServiceName: aws.String(name), ServiceArn: aws.String(arnPrefix + "service/" + f.cluster + "/" + name),
		ClusterArn: aws.String(arnPrefix + "cluster/" + f.cluster), Status: aws.String("ACTIVE"),
		TaskDefinition: aws.String(taskDefinition), DesiredCount: desired, RunningCount: desired,
		Deployments: []types.Deployment{{
			Id: aws.String(f.deploymentID()), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(taskDefinition),
			DesiredCount: desired, RunningCount: desired, RolloutState: types.DeploymentRolloutStateCompleted,
			RolloutStateReason: aws.String("ECS deployment completed."),
		}},
	}
}

// service returns a service by name or ARN. Locked.
func (f *ECS) service(cluster, name string) (*types.Service, bool) {
	if cluster != f.cluster && cluster != arnPrefix+"cluster/"+f.cluster {
		return nil, false
	}
	for n, s := range f.services {
		if name == n || name == aws.ToString(s.ServiceArn) {
			return s, true
		}
	}
	return nil, false
}

// Service returns a copy of the service called name.
func (f *ECS) Service(name string) types.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.service(f.cluster, name)
	if !ok {
		return types.Service{}
	}
	return cloneService(s)
}

func cloneService(s *types.Service) types.Service {
	c := *s
	c.Deployments = slices.Clone(s.Deployments)
	return c
}

// TaskDefinition returns the task definition arn and its tags.
func (f *ECS) TaskDefinition(arn string) (types.TaskDefinition, []types.Tag, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.defs[arn]
	if !ok {
		return types.TaskDefinition{}, nil, false
	}
	return d.td, slices.Clone(d.tags), true
}

// Registrations returns every RegisterTaskDefinition input received.
func (f *ECS) Registrations() []*ecs.RegisterTaskDefinitionInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regs)
}

// Updates returns "service=taskDefinition" for every UpdateService call.
func (f *ECS) Updates() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

// Progress sets the running count of the service's primary deployment.
func (f *ECS) Progress(name string, running int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[name]
	for i := range s.Deployments {
		if aws.ToString(s.Deployments[i].Status) == "PRIMARY" {
			s.Deployments[i].RunningCount = running
		}
	}
}

// Complete finishes the primary deployment: it runs every desired task,
// its rolloutState is COMPLETED and the older deployments are gone.
func (f *ECS) Complete(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[name]
	var keep []types.Deployment
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			d.RunningCount, d.PendingCount = d.DesiredCount, 0
			d.RolloutState, d.RolloutStateReason = types.DeploymentRolloutStateCompleted, aws.String("ECS deployment "+aws.ToString(d.Id)+" completed.")
			keep = append(keep, d)
		}
	}
	s.Deployments = keep
	s.RunningCount = s.DesiredCount
}

// Fail marks the primary deployment FAILED with reason, as the deployment
// circuit breaker does. With rollBack, ECS then starts a new PRIMARY
// deployment of the last completed task definition, and the failed one
// becomes ACTIVE.
func (f *ECS) Fail(name, reason string, rollBack bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[name]
	var last string
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if aws.ToString(d.Status) == "PRIMARY" {
			d.RolloutState, d.RolloutStateReason = types.DeploymentRolloutStateFailed, aws.String(reason)
			d.FailedTasks = d.DesiredCount
			if rollBack {
				d.Status = aws.String("ACTIVE")
			}
		} else if d.RolloutState == types.DeploymentRolloutStateCompleted || last == "" {
			last = aws.ToString(d.TaskDefinition)
		}
	}
	if rollBack && last != "" {
		s.TaskDefinition = aws.String(last)
		s.Deployments = append([]types.Deployment{{
			Id: aws.String(f.deploymentID()), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(last),
			DesiredCount: s.DesiredCount, RolloutState: types.DeploymentRolloutStateInProgress,
			RolloutStateReason: aws.String("ECS deployment circuit breaker: rolling back to the last completed deployment."),
		}}, s.Deployments...)
	}
}

// DescribeServices implements ecsrelease.API.
func (f *ECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cluster := aws.ToString(in.Cluster)
	if cluster != f.cluster && cluster != arnPrefix+"cluster/"+f.cluster {
		return nil, apiError("ClusterNotFoundException", "Cluster not found.")
	}
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		if s, ok := f.service(cluster, name); ok {
			out.Services = append(out.Services, cloneService(s))
		} else {
			out.Failures = append(out.Failures, types.Failure{Arn: aws.String(arnPrefix + "service/" + f.cluster + "/" + name), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

// DescribeTaskDefinition implements ecsrelease.API: by ARN, family:revision
// or family (latest).
func (f *ECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := aws.ToString(in.TaskDefinition)
	if !strings.HasPrefix(key, "arn:") {
		if !strings.Contains(key, ":") {
			key += ":" + strconv.Itoa(int(f.latest[key]))
		}
		key = arnPrefix + "task-definition/" + key
	}
	d, ok := f.defs[key]
	if !ok {
		return nil, apiError("ClientException", "Unable to describe task definition.")
	}
	td := d.td
	out := &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &td}
	if slices.Contains(in.Include, types.TaskDefinitionFieldTags) {
		out.Tags = slices.Clone(d.tags)
	}
	return out, nil
}

// RegisterTaskDefinition implements ecsrelease.API.
func (f *ECS) RegisterTaskDefinition(_ context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.Family) == "" || len(in.ContainerDefinitions) == 0 {
		return nil, apiError("ClientException", "Family and containerDefinitions are required.")
	}
	for _, c := range in.ContainerDefinitions {
		if aws.ToString(c.Name) == "" || aws.ToString(c.Image) == "" {
			return nil, apiError("ClientException", "Container.name and Container.image should not be null or empty.")
		}
	}
	for _, t := range in.Tags {
		if strings.HasPrefix(strings.ToLower(aws.ToString(t.Key)), "aws:") {
			return nil, apiError("InvalidParameterException", "Tag keys may not start with aws:.")
		}
	}
	f.regs = append(f.regs, in)
	td := f.register(types.TaskDefinition{
		Family: in.Family, ContainerDefinitions: in.ContainerDefinitions, Cpu: in.Cpu, Memory: in.Memory,
		EnableFaultInjection: in.EnableFaultInjection, EphemeralStorage: in.EphemeralStorage,
		ExecutionRoleArn: in.ExecutionRoleArn, TaskRoleArn: in.TaskRoleArn,
		IpcMode: in.IpcMode, PidMode: in.PidMode, NetworkMode: in.NetworkMode, PlacementConstraints: in.PlacementConstraints,
		ProxyConfiguration: in.ProxyConfiguration, RequiresCompatibilities: in.RequiresCompatibilities,
		RuntimePlatform: in.RuntimePlatform, TrustedExecutionConfiguration: in.TrustedExecutionConfiguration, Volumes: in.Volumes,
	}, in.Tags)
	return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: &td, Tags: slices.Clone(in.Tags)}, nil
}

// UpdateService implements ecsrelease.API: a new task definition (or
// ForceNewDeployment) starts a new PRIMARY deployment; the previous
// primary becomes ACTIVE until Complete.
func (f *ECS) UpdateService(_ context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.service(aws.ToString(in.Cluster), aws.ToString(in.Service))
	if !ok {
		return nil, apiError("ServiceNotFoundException", "Service not found.")
	}
	f.updates = append(f.updates, aws.ToString(s.ServiceName)+"="+aws.ToString(in.TaskDefinition))
	if in.DesiredCount != nil {
		s.DesiredCount = *in.DesiredCount
	}
	td := aws.ToString(in.TaskDefinition)
	if td == "" {
		td = aws.ToString(s.TaskDefinition)
	}
	if _, ok := f.defs[td]; !ok {
		return nil, apiError("ClientException", "TaskDefinition not found.")
	}
	if td != aws.ToString(s.TaskDefinition) || in.ForceNewDeployment {
		for i := range s.Deployments {
			if aws.ToString(s.Deployments[i].Status) == "PRIMARY" {
				s.Deployments[i].Status = aws.String("ACTIVE")
			}
		}
		s.Deployments = append([]types.Deployment{{
			Id: aws.String(f.deploymentID()), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(td),
			DesiredCount: s.DesiredCount, PendingCount: s.DesiredCount, RolloutState: types.DeploymentRolloutStateInProgress,
			RolloutStateReason: aws.String("ECS deployment in progress."),
		}}, s.Deployments...)
		s.TaskDefinition = aws.String(td)
	}
	svc := cloneService(s)
	return &ecs.UpdateServiceOutput{Service: &svc}, nil
}
