package deploy

import (
	"context"
	"log/slog"
	"time"
)

// Restored reports what a restore did.
type Restored struct {
	From    Weights `json:"from"`
	To      Weights `json:"to"`
	Changed bool    `json:"changed"`
}

// Restore puts back the weights the deployment found (rec.Before), writing
// only when the split differs and verifying by reading back, so it is
// idempotent. A dry run changed nothing and has nothing to restore. The
// deployment's listener tags are then cleared; failing to clear them is
// logged, not returned, because the traffic is what matters.
func Restore(ctx context.Context, log *slog.Logger, r Router, rec Record) (Restored, error) {
	if rec.DryRun {
		return Restored{To: rec.Before}, nil
	}
	log.Info("restoring", "deployment", rec.ID, "to", rec.Before.String())
	start := time.Now()
	from, err := r.SetWeights(ctx, rec.Before)
	if err != nil {
		return Restored{From: from, To: rec.Before}, err
	}
	res := Restored{From: from, To: rec.Before, Changed: !from.Same(rec.Before)}
	log.Info("restored", "deployment", rec.ID, "from", from.String(), "to", rec.Before.String(),
		"changed", res.Changed, "elapsed_ms", time.Since(start).Milliseconds())
	if err := r.Tag(ctx, nil, deploymentTags()); err != nil {
		log.Warn("could not clear deployment tags", "error", err)
	}
	return res, nil
}
