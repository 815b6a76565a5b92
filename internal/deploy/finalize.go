package deploy

import (
	"context"
	"log/slog"
	"time"
)

// FinalizeInput is the payload of the Finalize task.
type FinalizeInput struct {
	ExecutionARN string `json:"executionArn"`
	Deployment   Record `json:"deployment"`
}

// Summary is Finalize's output: what the deployment did.
type Summary struct {
	ID              string    `json:"id"`
	Version         string    `json:"version"`
	From            Colour    `json:"from"`
	To              Colour    `json:"to"`
	Weights         Weights   `json:"weights"`
	Strategy        string    `json:"strategy"`
	Steps           []int     `json:"steps"`
	StartedAt       time.Time `json:"startedAt"`
	FinishedAt      time.Time `json:"finishedAt"`
	DurationSeconds float64   `json:"durationSeconds"`
	DryRun          bool      `json:"dryRun"`
}

// Finalize confirms the candidate carries all traffic, records it as the
// new stable colour in the listener tags, and summarises the deployment.
type Finalize struct {
	Router Router
	Now    func() time.Time
}

// Handle runs Finalize. Errors: InvalidInput, WeightNotApplied (the
// candidate does not carry 100%), and those of Router.Weights.
func (f *Finalize) Handle(ctx context.Context, log *slog.Logger, in FinalizeInput) (Summary, error) {
	rec := in.Deployment
	if err := rec.ValidateFor(in.ExecutionARN); err != nil {
		return Summary{}, err
	}
	cur, err := f.Router.Weights(ctx)
	if err != nil {
		return Summary{}, err
	}
	if !rec.DryRun {
		if c, ok := cur.Sole(); !ok || c != rec.Candidate {
			return Summary{}, Errorf(WeightNotApplied, "expected 100%% on %s at the end, found %s", rec.Candidate, cur)
		}
		set := map[string]string{TagStable: string(rec.Candidate), TagVersion: rec.Version}
		// The tags only mirror the record: failing to write them must not
		// roll back a promoted release.
		if err := f.Router.Tag(ctx, set, deploymentTags()); err != nil {
			log.Warn("could not record the new stable colour in the listener tags", "error", err)
		}
	}
	now := f.Now().UTC()
	s := Summary{
		ID: rec.ID, Version: rec.Version, From: rec.Stable, To: rec.Candidate, Weights: cur,
		Strategy: rec.Plan.Strategy, StartedAt: rec.StartedAt, FinishedAt: now,
		DurationSeconds: now.Sub(rec.StartedAt).Seconds(), DryRun: rec.DryRun,
	}
	for _, st := range rec.Plan.Steps {
		s.Steps = append(s.Steps, st.Percent)
	}
	log.Info("promoted", "deployment", rec.ID, "version", rec.Version, "from", rec.Stable, "to", rec.Candidate,
		"duration_s", s.DurationSeconds, "dry_run", rec.DryRun)
	return s, nil
}
