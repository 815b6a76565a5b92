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
		Targets: router(cfg, awsCfg), Probes: p, MinHealthyTargets: cfg.Candidate.MinHealthyTargets,
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
	p, err := newProbe(cfg, awsCfg)
	if err != nil {
		return nil, err
	}
	w := &candidate.WarmUp{Probes: p, Config: cfg.Candidate.Warmup, Now: time.Now}
	return deploy.NewEdge("warmup", log, w.Handle), nil
}

// newProbe reads the API key (if a secret is configured) and returns the
// clients of the test route, one per colour: "{colour}" in
// RELAYSHIFT_TEST_URL or RELAYSHIFT_TEST_HEADER becomes the colour, so the
// probes follow the candidate as it alternates between deployments.
func newProbe(cfg Config, awsCfg aws.Config) (map[deploy.Colour]*relayprobe.Client, error) {
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
	probes := map[deploy.Colour]*relayprobe.Client{}
	hc := &http.Client{}
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		p, err := relayprobe.NewClient(cfg.Candidate.TestRoute(c), key, hc)
		if err != nil {
			return nil, deploy.Errorf(deploy.InvalidConfig, "%s: %w", EnvTestURL, err)
		}
		p.Timeout = cfg.Candidate.RequestTimeout
		probes[c] = p
	}
	return probes, nil
}
