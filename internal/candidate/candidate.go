package candidate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/relayprobe"
)

// Input is the payload of the HealthCheck and WarmUp tasks.
type Input struct {
	ExecutionARN string        `json:"executionArn"`
	Deployment   deploy.Record `json:"deployment"`
}

// HealthOutput is written under $.health. Every field is always present.
type HealthOutput struct {
	Colour            deploy.Colour `json:"colour"`
	Targets           deploy.Health `json:"targets"`
	MinHealthyTargets int           `json:"minHealthyTargets"`
	// URL is the test route probed (it carries no secret).
	URL          string `json:"url"`
	HealthPath   string `json:"healthPath"`
	HealthStatus int    `json:"healthStatus"`
	// Models are the warm-up models, all found in GET /v1/models;
	// ModelsListed counts the models the relay lists.
	Models       []string  `json:"models"`
	ModelsListed int       `json:"modelsListed"`
	DryRun       bool      `json:"dryRun"`
	CheckedAt    time.Time `json:"checkedAt"`
}

// HealthCheck checks the candidate colour: its target group's health in
// the load balancer, then HTTP readiness through the test route.
type HealthCheck struct {
	Targets deploy.Targets
	// Probes reach each colour through its test route; the candidate's is
	// used.
	Probes            map[deploy.Colour]*relayprobe.Client
	MinHealthyTargets int
	HealthPath        string
	// Models must all be listed by GET /v1/models (the warm-up's models).
	Models []string
	Now    func() time.Time
}

// Handle runs the health check. Errors: InvalidInput, TargetsNotReady
// (retryable: targets in their initial health checks, or the test route
// answering 502/503/504 or not at all), CandidateUnhealthy, and those of
// Targets.Health.
func (h *HealthCheck) Handle(ctx context.Context, log *slog.Logger, in Input) (HealthOutput, error) {
	if err := in.Deployment.ValidateFor(in.ExecutionARN); err != nil {
		return HealthOutput{}, err
	}
	rec := in.Deployment
	c := rec.Candidate
	log = log.With("deployment", rec.ID, "colour", c)
	out := HealthOutput{
		Colour: c, MinHealthyTargets: h.MinHealthyTargets, URL: h.Probes[c].URL(), HealthPath: h.HealthPath,
		Models: []string{}, DryRun: rec.DryRun,
	}
	th, err := h.Targets.Health(ctx, c)
	if err != nil {
		return HealthOutput{}, err
	}
	if th.Reasons == nil {
		th.Reasons = []string{}
	}
	out.Targets = th
	counts := fmt.Sprintf("%d registered: %d healthy, %d initial, %d unhealthy, %d draining, %d unused, %d unavailable; reasons %s",
		th.Total, th.Healthy, th.Initial, th.Unhealthy, th.Draining, th.Unused, th.Unavailable, reasons(th.Reasons))
	switch {
	case th.Unhealthy > 0:
		return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "%s target group has unhealthy targets (%s)", c, counts)
	case th.Initial > 0:
		return HealthOutput{}, deploy.Errorf(deploy.TargetsNotReady, "%s target group has targets in their initial health checks (%s)", c, counts)
	case th.Total == 0:
		return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "%s target group has no registered targets", c)
	case th.Healthy < h.MinHealthyTargets:
		return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "%s target group has %d healthy targets, fewer than the %d required (%s)",
			c, th.Healthy, h.MinHealthyTargets, counts)
	}
	log.Info("candidate targets healthy", "healthy", th.Healthy, "total", th.Total)

	status, err := h.Probes[c].Get(ctx, h.HealthPath)
	out.HealthStatus = status
	switch {
	case err != nil:
		return HealthOutput{}, notReady(fmt.Sprintf("GET %s through the test route", h.HealthPath), err)
	case gatewayStatus(status):
		return HealthOutput{}, deploy.Errorf(deploy.TargetsNotReady, "GET %s through the test route %s answered %d", h.HealthPath, out.URL, status)
	case status != http.StatusOK:
		return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "GET %s through the test route %s answered %d, want 200", h.HealthPath, out.URL, status)
	}

	listed, err := h.Probes[c].Models(ctx)
	if err != nil {
		var f *relayprobe.Failure
		if errors.As(err, &f) && !gatewayStatus(f.Status) && f.Class != relayprobe.Timeout && f.Class != relayprobe.Connection {
			return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "GET /v1/models through the test route %s: %s", out.URL, f)
		}
		return HealthOutput{}, notReady("GET /v1/models through the test route", err)
	}
	var missing []string
	for _, m := range h.Models {
		if !slices.Contains(listed, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return HealthOutput{}, deploy.Errorf(deploy.CandidateUnhealthy, "GET /v1/models through the test route does not list the warm-up models %s (it lists %d models)",
			strings.Join(missing, ", "), len(listed))
	}
	out.Models = append(out.Models, h.Models...)
	out.ModelsListed = len(listed)
	out.CheckedAt = h.Now().UTC()
	log.Info("candidate ready", "health_status", status, "models_listed", len(listed), "warmup_models", len(h.Models))
	return out, nil
}

// gatewayStatus reports the statuses a load balancer answers while its
// targets cannot serve yet (502, 503, 504): the candidate is not ready, not
// broken.
func gatewayStatus(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// notReady: a test route that does not answer yet is retried like targets
// in their initial health checks.
func notReady(what string, err error) error {
	return deploy.Errorf(deploy.TargetsNotReady, "%s: %w", what, err)
}

func reasons(rs []string) string {
	if len(rs) == 0 {
		return "none"
	}
	return strings.Join(rs, ", ")
}

// WarmupOutput is written under $.warmup. Every field is always present.
type WarmupOutput struct {
	Colour     deploy.Colour            `json:"colour"`
	URL        string                   `json:"url"`
	Passed     bool                     `json:"passed"`
	Requests   int                      `json:"requests"`
	DurationMs float64                  `json:"durationMs"`
	Models     []relayprobe.ModelReport `json:"models"`
	Thresholds relayprobe.Thresholds    `json:"thresholds"`
	DryRun     bool                     `json:"dryRun"`
	StartedAt  time.Time                `json:"startedAt"`
	FinishedAt time.Time                `json:"finishedAt"`
}

// WarmUp sends the LLM-aware warm-up through the test route.
type WarmUp struct {
	// Probes reach each colour through its test route; the candidate's is
	// used.
	Probes map[deploy.Colour]*relayprobe.Client
	Config relayprobe.WarmupConfig
	Now    func() time.Time
	// DeadlineMargin is kept free before the invocation's deadline to
	// report the result; default 3 s.
	DeadlineMargin time.Duration
}

// margin returns DeadlineMargin or its default.
func (w *WarmUp) margin() time.Duration {
	if w.DeadlineMargin > 0 {
		return w.DeadlineMargin
	}
	return 3 * time.Second
}

// Handle runs the warm-up. Errors: InvalidInput, WarmupFailed (naming each
// failing model and its class), InvalidConfig.
func (w *WarmUp) Handle(ctx context.Context, log *slog.Logger, in Input) (WarmupOutput, error) {
	if err := in.Deployment.ValidateFor(in.ExecutionARN); err != nil {
		return WarmupOutput{}, err
	}
	rec := in.Deployment
	log = log.With("deployment", rec.ID, "colour", rec.Candidate)
	started := w.Now().UTC()
	// Finish (and report WarmupFailed) before the function's own timeout
	// kills it without a named error.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-w.margin()))
		defer cancel()
	}
	log.Info("warming up", "url", w.Probes[rec.Candidate].URL(), "models", w.Config.Models, "requests", w.Config.Requests,
		"streams", w.Config.Streams, "concurrency", w.Config.Concurrency)
	rep, err := relayprobe.Warmup(ctx, w.Probes[rec.Candidate], w.Config)
	if err != nil {
		return WarmupOutput{}, deploy.Errorf(deploy.InvalidConfig, "warm-up: %w", err)
	}
	for _, m := range rep.Models {
		log.Info("warm-up model", "model", m.Model, "passed", m.Passed, "class", m.Class,
			"requests", m.Requests, "streams", m.Streams, "failed", m.Failed, "failures", m.Failures.String(),
			"latency_p50_ms", m.LatencyP50Ms, "latency_p95_ms", m.LatencyP95Ms,
			"ttft_p50_ms", m.TTFTP50Ms, "ttft_p95_ms", m.TTFTP95Ms)
	}
	if !rep.Passed {
		return WarmupOutput{}, deploy.Errorf(deploy.WarmupFailed, "warm-up of %s through the test route failed: %s", rec.Candidate, rep.Summary())
	}
	out := WarmupOutput{
		Colour: rec.Candidate, URL: w.Probes[rec.Candidate].URL(), Passed: true, Requests: rep.Requests, DurationMs: rep.DurationMs,
		Models: rep.Models, Thresholds: rep.Thresholds, DryRun: rec.DryRun, StartedAt: started, FinishedAt: w.Now().UTC(),
	}
	log.Info("warm-up passed", "requests", rep.Requests, "duration_ms", rep.DurationMs)
	return out, nil
}
