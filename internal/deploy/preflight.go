package deploy

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// PreflightInput is the payload of the Preflight task: the execution input
// and the execution's own ARN ($$.Execution.Id).
type PreflightInput struct {
	ExecutionARN string  `json:"executionArn"`
	Request      Request `json:"request"`
}

// Preflight validates a deployment, picks the stable and candidate colours,
// takes the one-deployment-at-a-time lock, and returns the deployment
// Record. It changes no traffic.
type Preflight struct {
	Router     Router
	Executions Executions
	// Targets, when set, records the stable colour's healthy targets in
	// the record (Record.StableHealthy), for rollback to compare with.
	Targets Targets
	// Service names the relay; it starts every deployment id.
	Service string
	// DefaultStrategy applies when the request names none.
	DefaultStrategy Strategy
	// ImageRequired is true when the release mode needs an image (ecs).
	ImageRequired bool
	Now           func() time.Time
}

// Handle runs Preflight. Errors: InvalidInput (nothing touched),
// ExecutionNotRunning, DeploymentInProgress, ListenerMisconfigured, and
// those of Router and Executions.
func (p *Preflight) Handle(ctx context.Context, log *slog.Logger, in PreflightInput) (Record, error) {
	req := in.Request
	if err := ValidateExecutionARN(in.ExecutionARN); err != nil {
		return Record{}, err
	}
	if err := req.Validate(p.ImageRequired); err != nil {
		return Record{}, err
	}
	plan, err := req.Plan(p.DefaultStrategy)
	if err != nil {
		return Record{}, err
	}
	rec := Record{
		ID:           DeploymentID(p.Service, req.Version, req.Commit),
		ExecutionARN: in.ExecutionARN,
		Version:      req.Version,
		Image:        req.Image,
		Commit:       req.Commit,
		Plan:         plan,
		DryRun:       req.DryRun,
		StartedAt:    p.Now().UTC(),
	}
	log = log.With("deployment", rec.ID)

	self, err := describeRunning(ctx, p.Executions, in.ExecutionARN)
	if err != nil {
		return Record{}, err
	}
	if err := checkLock(ctx, p.Executions, self); err != nil {
		return Record{}, err
	}
	cur, err := p.Router.Weights(ctx)
	if err != nil {
		return Record{}, err
	}
	if stable, ok := cur.Sole(); ok {
		rec.Stable, rec.Before = stable, cur
	} else if err := p.resume(ctx, &rec, cur); err != nil {
		return Record{}, err
	}
	rec.Candidate = rec.Stable.Other()
	if p.Targets != nil {
		h, err := p.Targets.Health(ctx, rec.Stable)
		if err != nil {
			return Record{}, err
		}
		rec.StableHealthy = h.Healthy
	}

	if !rec.DryRun {
		tags := map[string]string{
			TagDeployment:    rec.ID,
			TagExecution:     rec.ExecutionARN,
			TagStable:        string(rec.Stable),
			TagBefore:        rec.Before.String(),
			TagStableHealthy: strconv.Itoa(rec.StableHealthy),
		}
		if err := p.Router.Tag(ctx, tags, nil); err != nil {
			return Record{}, err
		}
	}
	log.Info("preflight passed", "stable", rec.Stable, "candidate", rec.Candidate,
		"weights", rec.Before.String(), "stable_healthy", rec.StableHealthy, "strategy", plan.Strategy, "steps", len(plan.Steps),
		"resumed", rec.Resumed, "dry_run", rec.DryRun)
	return rec, nil
}

// resume accepts a listener that is already split only when the listener's
// tags say this same deployment split it (an earlier execution of it ended
// without finishing); the record then comes from those tags.
func (p *Preflight) resume(ctx context.Context, rec *Record, cur Weights) error {
	if cur.Blue == 0 && cur.Green == 0 {
		return Errorf(ListenerMisconfigured, "listener forwards to neither colour (%s)", cur)
	}
	tags, err := p.Router.Tags(ctx)
	if err != nil {
		return err
	}
	owner := tags[TagDeployment]
	if owner != rec.ID {
		return Errorf(DeploymentInProgress,
			"listener is split (%s) by deployment %q, which is not running; roll it back first (relayshift rollback --to blue|green)",
			cur, owner)
	}
	stable, before, ok := stableFromTags(tags)
	if !ok {
		return Errorf(ListenerMisconfigured, "listener is split (%s) by this deployment but its tags %s=%q %s=%q cannot be resumed from",
			cur, TagStable, tags[TagStable], TagBefore, tags[TagBefore])
	}
	rec.Stable, rec.Before, rec.Resumed = stable, before, true
	return nil
}
