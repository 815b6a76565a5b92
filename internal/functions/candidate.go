package functions

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relayshift/relayshift/internal/apikey"
	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/relayprobe"
)

// secretTimeout bounds the cold-start read of the API key.
const secretTimeout = 15 * time.Second

// Release builds the release function. Mode ecs needs the ECS cluster and
// services; mode external uses them, when set, to verify the candidate.
func Release(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if cfg.ReleaseMode == ReleaseECS && !cfg.ECS.Configured() {
		return nil, deploy.Errorf(deploy.InvalidConfig, "release mode ecs needs %s, %s and %s", EnvECSCluster, EnvECSBlueService, EnvECSGreenService)
	}
	r := &ecsrelease.Release{
		Mode:      cfg.ReleaseMode,
		Services:  ecsrelease.Services{Cluster: cfg.ECS.Cluster, Blue: cfg.ECS.BlueService, Green: cfg.ECS.GreenService},
		Container: cfg.ECS.Container, MaxChecks: cfg.ECS.MaxChecks, Now: time.Now,
	}
	if cfg.ECS.Configured() {
		r.API = ecs.NewFromConfig(awsCfg)
	}
	return deploy.NewEdge("release", log, r.Handle), nil
}

// HealthCheck builds the healthcheck function. The API key is read once,
// here, at cold start.
func HealthCheck(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvBlueTG, EnvGreenTG); err != nil {
		return nil, err
	}
	if err := cfg.requireCandidate(false); err != nil {
		return nil, err
	}
	p, err := newProbe(cfg, awsCfg)
	if err != nil {
		return nil, err
	}
	h := &candidate.HealthCheck{
		Targets: router(cfg, awsCfg), Probe: p, MinHealthyTargets: cfg.Candidate.MinHealthyTargets,
		HealthPath: cfg.Candidate.HealthPath, Models: cfg.Candidate.Warmup.Models, Now: time.Now,
	}
	return deploy.NewEdge("healthcheck", log, h.Handle), nil
}

// WarmUp builds the warmup function. The API key is read once, here, at
// cold start.
func WarmUp(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.requireCandidate(true); err != nil {
		return nil, err
	}
	if err := cfg.Candidate.Warmup.Validate(); err != nil {
		return nil, deploy.Errorf(deploy.InvalidConfig, "warm-up: %w", err)
	}
	p, err := newProbe(cfg, awsCfg)
	if err != nil {
		return nil, err
	}
	w := &candidate.WarmUp{Probe: p, Config: cfg.Candidate.Warmup, Now: time.Now}
	return deploy.NewEdge("warmup", log, w.Handle), nil
}

// newProbe reads the API key (if a secret is configured) and returns the
// client of the test route.
func newProbe(cfg Config, awsCfg aws.Config) (*relayprobe.Client, error) {
	key := ""
	if arn := cfg.Candidate.APIKeySecretARN; arn != "" {
		// A Builder runs once at cold start, outside any invocation, so
		// there is no caller context: the read is bounded here instead.
		ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
		defer cancel()
		k, err := apikey.Fetch(ctx, secretsmanager.NewFromConfig(awsCfg), arn)
		if err != nil {
			return nil, err
		}
		key = k
	}
	p, err := relayprobe.NewClient(relayprobe.Target{
		URL: cfg.Candidate.TestURL, HeaderName: cfg.Candidate.TestHeaderName, HeaderValue: cfg.Candidate.TestHeaderValue,
	}, key, &http.Client{})
	if err != nil {
		return nil, deploy.Errorf(deploy.InvalidConfig, "%s: %w", EnvTestURL, err)
	}
	p.Timeout = cfg.Candidate.RequestTimeout
	return p, nil
}
