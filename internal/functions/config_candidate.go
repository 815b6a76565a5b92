package functions

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/relayprobe"
)

// ECSConfig names the ECS cluster and the services behind the blue and
// green target groups.
type ECSConfig struct {
	// Cluster, BlueService and GreenService are names or ARNs, set
	// together or not at all. RELAYSHIFT_ECS_CLUSTER,
	// RELAYSHIFT_ECS_BLUE_SERVICE, RELAYSHIFT_ECS_GREEN_SERVICE.
	Cluster, BlueService, GreenService string
	// Container is the relay's container in the task definition; empty
	// means its only container. RELAYSHIFT_ECS_CONTAINER.
	Container string
	// MaxChecks bounds the polls of a rollout before it fails as timed
	// out. RELAYSHIFT_RELEASE_MAX_CHECKS, default 60.
	MaxChecks int
}

// Configured reports whether the cluster and services are set.
func (e ECSConfig) Configured() bool { return e.Cluster != "" }

// CandidateConfig configures the health check and the warm-up of the
// candidate through the test route.
type CandidateConfig struct {
	// MinHealthyTargets: RELAYSHIFT_MIN_HEALTHY_TARGETS, default 1.
	MinHealthyTargets int
	// TestURL is the test route: the test listener's URL, or the
	// production URL with TestHeader. RELAYSHIFT_TEST_URL.
	TestURL string
	// TestURL and TestHeaderValue may contain ColourPlaceholder (see
	// TestRoute).
	// TestHeaderName and TestHeaderValue come from RELAYSHIFT_TEST_HEADER
	// ("Name: value").
	TestHeaderName, TestHeaderValue string
	// HealthPath: RELAYSHIFT_HEALTH_PATH, default /health.
	HealthPath string
	// APIKeySecretARN holds the relay API key (raw, or JSON {"apiKey"}).
	// RELAYSHIFT_API_KEY_SECRET_ARN; without it probes send no key.
	APIKeySecretARN string
	// RequestTimeout bounds each probe. RELAYSHIFT_PROBE_TIMEOUT, default
	// 30s.
	RequestTimeout time.Duration
	// Warmup: RELAYSHIFT_WARMUP_* (models, counts, thresholds).
	Warmup relayprobe.WarmupConfig
}

// Environment variable names of the release, health check and warm-up.
const (
	EnvECSCluster           = "RELAYSHIFT_ECS_CLUSTER"
	EnvECSBlueService       = "RELAYSHIFT_ECS_BLUE_SERVICE"
	EnvECSGreenService      = "RELAYSHIFT_ECS_GREEN_SERVICE"
	EnvECSContainer         = "RELAYSHIFT_ECS_CONTAINER"
	EnvReleaseMaxChecks     = "RELAYSHIFT_RELEASE_MAX_CHECKS"
	EnvMinHealthyTargets    = "RELAYSHIFT_MIN_HEALTHY_TARGETS"
	EnvTestURL              = "RELAYSHIFT_TEST_URL"
	EnvTestHeader           = "RELAYSHIFT_TEST_HEADER"
	EnvHealthPath           = "RELAYSHIFT_HEALTH_PATH"
	EnvAPIKeySecretARN      = "RELAYSHIFT_API_KEY_SECRET_ARN"
	EnvProbeTimeout         = "RELAYSHIFT_PROBE_TIMEOUT"
	EnvWarmupModels         = "RELAYSHIFT_WARMUP_MODELS"
	EnvWarmupRequests       = "RELAYSHIFT_WARMUP_REQUESTS"
	EnvWarmupStreams        = "RELAYSHIFT_WARMUP_STREAMS"
	EnvWarmupConcurrency    = "RELAYSHIFT_WARMUP_CONCURRENCY"
	EnvWarmupMaxRequests    = "RELAYSHIFT_WARMUP_MAX_REQUESTS"
	EnvWarmupMaxTokens      = "RELAYSHIFT_WARMUP_MAX_TOKENS"
	EnvWarmupMinSuccess     = "RELAYSHIFT_WARMUP_MIN_SUCCESS_RATIO"
	EnvWarmupMaxP95Latency  = "RELAYSHIFT_WARMUP_MAX_P95_LATENCY"
	EnvWarmupMaxP95TTFT     = "RELAYSHIFT_WARMUP_MAX_P95_TTFT"
	defaultReleaseMaxChecks = 60
)

var (
	ecsNameRE   = regexp.MustCompile(`^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|service)/[A-Za-z0-9_/-]{1,512})$`)
	secretARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
)

// loadCandidate reads the release, health-check and warm-up variables,
// reporting every problem through bad.
func (c *Config) loadCandidate(get func(string) string, bad func(k, format string, args ...any)) {
	integer := func(k string, def, lo, hi int) int {
		s := get(k)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad(k, "%q: want a whole number from %d to %d", s, lo, hi)
			return def
		}
		return n
	}
	duration := func(k string, def, lo, hi time.Duration) time.Duration {
		s := get(k)
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			bad(k, "%q: want a duration from %s to %s, such as \"5s\"", s, lo, hi)
			return def
		}
		return d
	}

	e := &c.ECS
	e.Cluster, e.BlueService, e.GreenService = get(EnvECSCluster), get(EnvECSBlueService), get(EnvECSGreenService)
	e.Container = get(EnvECSContainer)
	e.MaxChecks = integer(EnvReleaseMaxChecks, defaultReleaseMaxChecks, 1, 10000)
	set := 0
	for _, kv := range [][2]string{{EnvECSCluster, e.Cluster}, {EnvECSBlueService, e.BlueService}, {EnvECSGreenService, e.GreenService}} {
		if kv[1] != "" {
			set++
			if !ecsNameRE.MatchString(kv[1]) {
				bad(kv[0], "%q is not an ECS name or ARN", kv[1])
			}
		}
	}
	switch {
	case set != 0 && set != 3:
		bad(EnvECSCluster, "%s, %s and %s go together: set all three or none", EnvECSCluster, EnvECSBlueService, EnvECSGreenService)
	case set == 3 && e.BlueService == e.GreenService:
		bad(EnvECSGreenService, "blue and green must be different services")
	}

	p := &c.Candidate
	p.MinHealthyTargets = integer(EnvMinHealthyTargets, 1, 1, 1000)
	p.TestURL = get(EnvTestURL)
	if p.TestURL != "" {
		if _, err := relayprobe.ParseURL(p.TestRoute(deploy.Blue).URL); err != nil {
			bad(EnvTestURL, "%v", err)
		}
	}
	if h := get(EnvTestHeader); h != "" {
		name, value, err := relayprobe.ParseHeader(h)
		if err != nil {
			// The value may be a shared secret of the routing rule: the
			// message names the variable, not its content.
			bad(EnvTestHeader, "want \"Name: value\" with a header name other than Authorization")
		}
		p.TestHeaderName, p.TestHeaderValue = name, value
	}
	p.HealthPath = get(EnvHealthPath)
	if p.HealthPath == "" {
		p.HealthPath = "/health"
	}
	if !strings.HasPrefix(p.HealthPath, "/") || strings.ContainsAny(p.HealthPath, "?# ") {
		bad(EnvHealthPath, "%q: want an absolute path such as /health", p.HealthPath)
	}
	p.APIKeySecretARN = get(EnvAPIKeySecretARN)
	if p.APIKeySecretARN != "" && !secretARNRE.MatchString(p.APIKeySecretARN) {
		bad(EnvAPIKeySecretARN, "%q is not a Secrets Manager secret ARN", p.APIKeySecretARN)
	}
	p.RequestTimeout = duration(EnvProbeTimeout, 30*time.Second, 100*time.Millisecond, 5*time.Minute)

	w := relayprobe.DefaultWarmupConfig()
	for m := range strings.SplitSeq(get(EnvWarmupModels), ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if slices.Contains(w.Models, m) {
			bad(EnvWarmupModels, "model %q is listed twice", m)
			continue
		}
		w.Models = append(w.Models, m)
	}
	w.Requests = integer(EnvWarmupRequests, w.Requests, 0, 1000)
	w.Streams = integer(EnvWarmupStreams, w.Streams, 0, 1000)
	w.Concurrency = integer(EnvWarmupConcurrency, w.Concurrency, 1, 64)
	w.MaxRequests = integer(EnvWarmupMaxRequests, w.MaxRequests, 1, 10000)
	w.MaxTokens = integer(EnvWarmupMaxTokens, w.MaxTokens, 1, 4096)
	if s := get(EnvWarmupMinSuccess); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || !(r > 0 && r <= 1) {
			bad(EnvWarmupMinSuccess, "%q: want a ratio above 0 and at most 1, such as 0.9", s)
		} else {
			w.MinSuccessRatio = r
		}
	}
	w.MaxP95Latency = duration(EnvWarmupMaxP95Latency, w.MaxP95Latency, 0, 10*time.Minute)
	w.MaxP95TTFT = duration(EnvWarmupMaxP95TTFT, w.MaxP95TTFT, 0, 10*time.Minute)
	if w.Requests+w.Streams == 0 {
		bad(EnvWarmupRequests, "%s and %s are both 0: the warm-up would send nothing", EnvWarmupRequests, EnvWarmupStreams)
	}
	if w.Total() > w.MaxRequests {
		bad(EnvWarmupMaxRequests, "%d models x (%d requests + %d streams) = %d requests, above the cap of %d",
			len(w.Models), w.Requests, w.Streams, w.Total(), w.MaxRequests)
	}
	p.Warmup = w
}

// requireCandidate reports the missing variables a probing function needs.
func (c Config) requireCandidate(needModels bool) error {
	var missing []string
	if c.Candidate.TestURL == "" {
		missing = append(missing, EnvTestURL)
	}
	if needModels && len(c.Candidate.Warmup.Models) == 0 {
		missing = append(missing, EnvWarmupModels)
	}
	if len(missing) > 0 {
		return deploy.Errorf(deploy.InvalidConfig, "missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// ColourPlaceholder in RELAYSHIFT_TEST_URL or RELAYSHIFT_TEST_HEADER is
// replaced by the candidate colour: the candidate alternates between
// deployments, so a fixed route would reach it only every other time.
const ColourPlaceholder = "{colour}"

// TestRoute returns the test route reaching colour c.
func (p CandidateConfig) TestRoute(c deploy.Colour) relayprobe.Target {
	return relayprobe.Target{
		URL:         strings.ReplaceAll(p.TestURL, ColourPlaceholder, string(c)),
		HeaderName:  p.TestHeaderName,
		HeaderValue: strings.ReplaceAll(p.TestHeaderValue, ColourPlaceholder, string(c)),
	}
}
