package ecsrelease

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/relayshift/relayshift/internal/deploy"
)

// Release modes.
const (
	ModeECS      = "ecs"
	ModeExternal = "external"
)

// Actions of the release payload.
const (
	ActionStart = "start"
	ActionCheck = "check"
)

// Statuses of a release.
const (
	InProgress = "IN_PROGRESS"
	Completed  = "COMPLETED"
	Skipped    = "SKIPPED"
)

// Input is the payload of the Release task (action start) and of the
// ReleaseStatus poll (action check, with the previous output).
type Input struct {
	ExecutionARN string        `json:"executionArn"`
	Deployment   deploy.Record `json:"deployment"`
	Action       string        `json:"action"`
	Release      *Output       `json:"release"`
}

// Output is written under $.release. Every field is always present.
type Output struct {
	Mode   string `json:"mode"`
	Action string `json:"action"`
	// Status is IN_PROGRESS (poll again), COMPLETED or SKIPPED.
	Status    string        `json:"status"`
	DryRun    bool          `json:"dryRun"`
	Colour    deploy.Colour `json:"colour"`
	Cluster   string        `json:"cluster"`
	Service   string        `json:"service"`
	Container string        `json:"container"`
	Image     string        `json:"image"`
	// TaskDefinition is the revision being released (or, when nothing is
	// released, the one the service runs); PreviousTaskDefinition the one
	// it replaced.
	TaskDefinition         string `json:"taskDefinition"`
	PreviousTaskDefinition string `json:"previousTaskDefinition"`
	// Changed is true when this release registered a task definition and
	// updated the service.
	Changed         bool   `json:"changed"`
	ECSDeploymentID string `json:"ecsDeploymentId"`
	RolloutState    string `json:"rolloutState"`
	RunningCount    int    `json:"runningCount"`
	DesiredCount    int    `json:"desiredCount"`
	// Checks counts the polls so far; the poll that reaches MaxChecks with
	// the rollout still in progress fails.
	Checks    int       `json:"checks"`
	MaxChecks int       `json:"maxChecks"`
	Message   string    `json:"message"`
	StartedAt time.Time `json:"startedAt"`
	CheckedAt time.Time `json:"checkedAt"`
}

// Release puts the new version on the candidate colour (mode ecs) or
// verifies that another system did (mode external).
type Release struct {
	// API is nil when ECS is not configured (mode external only).
	API      API
	Mode     string
	Services Services
	// Container names the relay's container; empty means the task
	// definition's only container.
	Container string
	MaxChecks int
	Now       func() time.Time
}

// Handle runs the release task. Errors: InvalidInput, ReleaseFailed,
// RequestRejected, Throttled, AccessDenied.
func (r *Release) Handle(ctx context.Context, log *slog.Logger, in Input) (Output, error) {
	rec := in.Deployment
	if err := rec.ValidateFor(in.ExecutionARN); err != nil {
		return Output{}, err
	}
	log = log.With("deployment", rec.ID, "action", in.Action, "mode", r.Mode)
	switch {
	case in.Action == ActionStart && in.Release != nil:
		return Output{}, deploy.Errorf(deploy.InvalidInput, "action start takes no release")
	case in.Action == ActionStart && r.Mode == ModeECS:
		return r.start(ctx, log, rec)
	case in.Action == ActionStart:
		return r.external(ctx, log, rec)
	case in.Action == ActionCheck:
		return r.check(ctx, log, rec, in.Release)
	}
	return Output{}, deploy.Errorf(deploy.InvalidInput, "action %q: want start or check", in.Action)
}

func (r *Release) base(rec deploy.Record, action string) Output {
	now := r.Now().UTC()
	return Output{
		Mode: r.Mode, Action: action, DryRun: rec.DryRun, Colour: rec.Candidate,
		Cluster: r.Services.Cluster, Service: r.Services.Of(rec.Candidate), Container: r.Container,
		Image: rec.Image, MaxChecks: r.MaxChecks, StartedAt: now, CheckedAt: now,
	}
}

// start registers the copy of the candidate's task definition with the new
// image and points the candidate service at it.
func (r *Release) start(ctx context.Context, log *slog.Logger, rec deploy.Record) (Output, error) {
	out := r.base(rec, ActionStart)
	if rec.Image == "" {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "release mode ecs needs an image; the deployment record has none")
	}
	svc, err := describeService(ctx, r.API, out.Cluster, out.Service)
	if err != nil {
		return Output{}, err
	}
	cur := aws.ToString(svc.TaskDefinition)
	td, err := r.API.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(cur), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		return Output{}, classify("describe task definition "+cur, err)
	}
	if td.TaskDefinition == nil {
		return Output{}, deploy.Errorf(deploy.ReleaseFailed, "task definition %s not found", cur)
	}
	i, err := containerIndex(td.TaskDefinition, r.Container)
	if err != nil {
		return Output{}, err
	}
	out.Container = aws.ToString(td.TaskDefinition.ContainerDefinitions[i].Name)
	out.PreviousTaskDefinition = cur

	if aws.ToString(td.TaskDefinition.ContainerDefinitions[i].Image) == rec.Image {
		// A retried start, or a candidate that already runs this image:
		// registering again would only roll the same image once more.
		out.TaskDefinition, out.Status = cur, InProgress
		if p, ok := primary(svc); ok {
			out.ECSDeploymentID = aws.ToString(p.Id)
			out.RolloutState, out.RunningCount, out.DesiredCount = string(p.RolloutState), int(p.RunningCount), int(p.DesiredCount)
		}
		out.Message = fmt.Sprintf("service %s already runs %s with container %s on %s; nothing to register", out.Service,
			shortTaskDefinition(cur), out.Container, rec.Image)
		if rec.DryRun {
			out.Status = Skipped
			out.Message = "dry run: " + out.Message
		}
		log.Info("release not needed", "service", out.Service, "task_definition", cur, "image", rec.Image)
		return out, nil
	}

	reg := CopyTaskDefinition(td.TaskDefinition, td.Tags, i, rec.Image)
	if rec.DryRun {
		out.Status = Skipped
		out.Message = fmt.Sprintf("dry run: would register a new revision of %s with container %s on %s (everything else kept) and update service %s to it",
			shortTaskDefinition(cur), out.Container, rec.Image, out.Service)
		log.Info("dry run: would release", "service", out.Service, "from", cur, "image", rec.Image)
		return out, nil
	}
	log.Info("registering task definition", "family", aws.ToString(reg.Family), "from", cur, "container", out.Container, "image", rec.Image)
	regOut, err := r.API.RegisterTaskDefinition(ctx, reg)
	if err != nil {
		return Output{}, classify("register task definition "+aws.ToString(reg.Family), err)
	}
	if regOut.TaskDefinition == nil || regOut.TaskDefinition.TaskDefinitionArn == nil {
		return Output{}, fmt.Errorf("register task definition %s: no task definition in the answer", aws.ToString(reg.Family))
	}
	next := aws.ToString(regOut.TaskDefinition.TaskDefinitionArn)
	out.TaskDefinition = next

	// Only the task definition changes: desired count, network, load
	// balancers and deployment configuration stay as they are.
	log.Info("updating service", "service", out.Service, "task_definition", next)
	upd, err := r.API.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(out.Cluster), Service: aws.String(out.Service), TaskDefinition: aws.String(next),
	})
	if err != nil {
		return Output{}, classify("update service "+out.Service, err)
	}
	out.Changed, out.Status = true, InProgress
	if upd.Service != nil {
		if p, ok := primary(*upd.Service); ok && aws.ToString(p.TaskDefinition) == next {
			out.ECSDeploymentID = aws.ToString(p.Id)
			out.RolloutState, out.RunningCount, out.DesiredCount = string(p.RolloutState), int(p.RunningCount), int(p.DesiredCount)
		}
	}
	out.Message = fmt.Sprintf("service %s is rolling out %s (was %s)", out.Service, shortTaskDefinition(next), shortTaskDefinition(cur))
	log.Info("released", "service", out.Service, "from", cur, "to", next, "ecs_deployment", out.ECSDeploymentID)
	return out, nil
}

// external verifies that nothing is being released on the candidate: when
// ECS is configured, its service has one deployment, completed.
func (r *Release) external(ctx context.Context, log *slog.Logger, rec deploy.Record) (Output, error) {
	out := r.base(rec, ActionStart)
	out.Status = Skipped
	if r.API == nil || !r.Services.Configured() {
		out.Message = "release mode external without ECS services configured: nothing to verify"
		log.Info("release skipped", "reason", out.Message)
		return out, nil
	}
	svc, err := describeService(ctx, r.API, out.Cluster, out.Service)
	if err != nil {
		return Output{}, err
	}
	out.TaskDefinition = aws.ToString(svc.TaskDefinition)
	out.RunningCount, out.DesiredCount = int(svc.RunningCount), int(svc.DesiredCount)
	p, _ := primary(svc)
	out.ECSDeploymentID, out.RolloutState = aws.ToString(p.Id), string(p.RolloutState)
	if !steady(svc) {
		return Output{}, deploy.Errorf(deploy.ReleaseFailed,
			"release mode external: candidate service %s is still being released (%d deployments, primary %s rolloutState %q, %d of %d tasks running); "+
				"update the candidate and wait for it to be stable (aws ecs wait services-stable) before starting the deployment",
			out.Service, len(svc.Deployments), shortTaskDefinition(aws.ToString(p.TaskDefinition)), p.RolloutState, svc.RunningCount, svc.DesiredCount)
	}
	out.Message = fmt.Sprintf("release mode external: candidate service %s runs %s, one completed deployment", out.Service, shortTaskDefinition(out.TaskDefinition))
	log.Info("release skipped", "reason", out.Message)
	return out, nil
}

// check polls the rollout started by start.
func (r *Release) check(ctx context.Context, log *slog.Logger, rec deploy.Record, prev *Output) (Output, error) {
	if prev == nil {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "action check needs the previous release output")
	}
	if prev.Mode != r.Mode || prev.Service != r.Services.Of(rec.Candidate) || prev.Cluster != r.Services.Cluster || prev.Colour != rec.Candidate {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "release output (mode %q, cluster %q, service %q, colour %q) is not this deployment's (mode %q, cluster %q, service %q, colour %q)",
			prev.Mode, prev.Cluster, prev.Service, prev.Colour, r.Mode, r.Services.Cluster, r.Services.Of(rec.Candidate), rec.Candidate)
	}
	out := *prev
	out.Action, out.CheckedAt = ActionCheck, r.Now().UTC()
	if prev.Status != InProgress {
		return out, nil
	}
	if prev.TaskDefinition == "" {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "release output in progress names no task definition")
	}
	if r.API == nil {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "release output in progress, but this function has no ECS services configured")
	}
	out.Checks++
	svc, err := describeService(ctx, r.API, out.Cluster, out.Service)
	if err != nil {
		return Output{}, err
	}
	var ours types.Deployment
	for _, d := range svc.Deployments {
		if (prev.ECSDeploymentID != "" && aws.ToString(d.Id) == prev.ECSDeploymentID) ||
			(prev.ECSDeploymentID == "" && aws.ToString(d.TaskDefinition) == prev.TaskDefinition && aws.ToString(d.Status) == "PRIMARY") {
			ours = d
		}
	}
	p, hasPrimary := primary(svc)
	out.RolloutState, out.RunningCount, out.DesiredCount = string(ours.RolloutState), int(ours.RunningCount), int(ours.DesiredCount)
	if out.ECSDeploymentID == "" {
		out.ECSDeploymentID = aws.ToString(ours.Id)
	}
	log = log.With("service", out.Service, "task_definition", out.TaskDefinition, "check", out.Checks)
	reason := ""
	if why := aws.ToString(ours.RolloutStateReason); why != "" {
		reason = ": " + why
	}
	switch {
	case !hasPrimary || aws.ToString(p.TaskDefinition) != prev.TaskDefinition ||
		(prev.ECSDeploymentID != "" && aws.ToString(p.Id) != prev.ECSDeploymentID):
		return Output{}, deploy.Errorf(deploy.ReleaseFailed,
			"ECS deployment of %s on service %s is no longer the primary one (the service now runs %s, deployment %s): "+
				"rolled back by the deployment circuit breaker or replaced by another update%s",
			shortTaskDefinition(prev.TaskDefinition), out.Service, shortTaskDefinition(aws.ToString(p.TaskDefinition)), aws.ToString(p.Id), reason)
	case ours.RolloutState == types.DeploymentRolloutStateFailed:
		return Output{}, deploy.Errorf(deploy.ReleaseFailed, "ECS deployment %s of %s on service %s failed%s",
			aws.ToString(ours.Id), shortTaskDefinition(prev.TaskDefinition), out.Service, reason)
	case steady(svc):
		out.Status = Completed
		out.Message = fmt.Sprintf("service %s runs %s: %d of %d tasks, one deployment", out.Service,
			shortTaskDefinition(out.TaskDefinition), svc.RunningCount, svc.DesiredCount)
		log.Info("release completed", "running", svc.RunningCount, "desired", svc.DesiredCount)
		return out, nil
	case out.Checks >= out.MaxChecks:
		return Output{}, deploy.Errorf(deploy.ReleaseFailed, "ECS deployment of %s on service %s still in progress after %d checks (rolloutState %q, %d of %d tasks running, %d deployments)",
			shortTaskDefinition(prev.TaskDefinition), out.Service, out.Checks, ours.RolloutState, ours.RunningCount, ours.DesiredCount, len(svc.Deployments))
	}
	out.Message = fmt.Sprintf("service %s rolling out %s: %d of %d tasks running, %d deployments", out.Service,
		shortTaskDefinition(out.TaskDefinition), ours.RunningCount, ours.DesiredCount, len(svc.Deployments))
	log.Info("release in progress", "rollout_state", ours.RolloutState, "running", ours.RunningCount, "desired", ours.DesiredCount)
	return out, nil
}
