package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/relayprobe"
	"github.com/relayshift/relayshift/internal/relaysim"
)

const (
	listenerARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	blueTG      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	greenTG     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-green/6d0ecf831eec9f09"
	secretARN   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:relay/api-key-AbCdEf"
	relayKey    = "sk-relayshift-functions-test-5a4b3c2d1e0f"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestLoadConfigCandidateDefaults(t *testing.T) {
	cfg, err := functions.LoadConfig(lookup(map[string]string{
		"RELAYSHIFT_TEST_URL":      "https://test.relay.example.com:8443",
		"RELAYSHIFT_WARMUP_MODELS": "gpt-4o-mini, claude-haiku",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := functions.CandidateConfig{
		MinHealthyTargets: 1, TestURL: "https://test.relay.example.com:8443", HealthPath: "/health", RequestTimeout: 30 * time.Second,
		Warmup: relayprobe.WarmupConfig{
			Models: []string{"gpt-4o-mini", "claude-haiku"}, Requests: 10, Streams: 5, Concurrency: 4, MaxRequests: 200, MaxTokens: 16,
			MinSuccessRatio: 0.9, MaxP95Latency: 10 * time.Second, MaxP95TTFT: 5 * time.Second,
		},
	}
	if diff := cmp.Diff(want, cfg.Candidate); diff != "" {
		t.Fatalf("candidate config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(functions.ECSConfig{MaxChecks: 60}, cfg.ECS); diff != "" {
		t.Fatalf("ECS config (-want +got):\n%s", diff)
	}
}

func TestLoadConfigCandidateValues(t *testing.T) {
	cfg, err := functions.LoadConfig(lookup(map[string]string{
		"RELAYSHIFT_RELEASE_MODE":             "ecs",
		"RELAYSHIFT_ECS_CLUSTER":              "relay",
		"RELAYSHIFT_ECS_BLUE_SERVICE":         "relay-blue",
		"RELAYSHIFT_ECS_GREEN_SERVICE":        "arn:aws:ecs:eu-west-1:123456789012:service/relay/relay-green",
		"RELAYSHIFT_ECS_CONTAINER":            "relay",
		"RELAYSHIFT_RELEASE_MAX_CHECKS":       "90",
		"RELAYSHIFT_MIN_HEALTHY_TARGETS":      "2",
		"RELAYSHIFT_TEST_URL":                 "https://relay.example.com",
		"RELAYSHIFT_TEST_HEADER":              "X-Relayshift-Route: candidate",
		"RELAYSHIFT_HEALTH_PATH":              "/ready",
		"RELAYSHIFT_API_KEY_SECRET_ARN":       secretARN,
		"RELAYSHIFT_PROBE_TIMEOUT":            "10s",
		"RELAYSHIFT_WARMUP_MODELS":            "m1",
		"RELAYSHIFT_WARMUP_REQUESTS":          "3",
		"RELAYSHIFT_WARMUP_STREAMS":           "2",
		"RELAYSHIFT_WARMUP_CONCURRENCY":       "2",
		"RELAYSHIFT_WARMUP_MAX_REQUESTS":      "5",
		"RELAYSHIFT_WARMUP_MAX_TOKENS":        "4",
		"RELAYSHIFT_WARMUP_MIN_SUCCESS_RATIO": "1",
		"RELAYSHIFT_WARMUP_MAX_P95_LATENCY":   "2s",
		"RELAYSHIFT_WARMUP_MAX_P95_TTFT":      "800ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ECS.GreenService == "" || cfg.ECS.MaxChecks != 90 || cfg.Candidate.TestHeaderName != "X-Relayshift-Route" ||
		cfg.Candidate.TestHeaderValue != "candidate" || cfg.Candidate.Warmup.MaxP95TTFT != 800*time.Millisecond ||
		cfg.Candidate.Warmup.MinSuccessRatio != 1 || cfg.Candidate.RequestTimeout != 10*time.Second || cfg.Candidate.HealthPath != "/ready" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestLoadConfigCandidateReportsEveryProblem(t *testing.T) {
	_, err := functions.LoadConfig(lookup(map[string]string{
		"RELAYSHIFT_ECS_CLUSTER":              "relay",
		"RELAYSHIFT_RELEASE_MAX_CHECKS":       "0",
		"RELAYSHIFT_MIN_HEALTHY_TARGETS":      "none",
		"RELAYSHIFT_TEST_URL":                 "https://user:hunter2@relay.example.com",
		"RELAYSHIFT_TEST_HEADER":              "Authorization: Bearer hunter2",
		"RELAYSHIFT_HEALTH_PATH":              "health",
		"RELAYSHIFT_API_KEY_SECRET_ARN":       "relay/api-key",
		"RELAYSHIFT_PROBE_TIMEOUT":            "forever",
		"RELAYSHIFT_WARMUP_MODELS":            "a,b,a",
		"RELAYSHIFT_WARMUP_MAX_REQUESTS":      "10",
		"RELAYSHIFT_WARMUP_MIN_SUCCESS_RATIO": "95",
		"RELAYSHIFT_WARMUP_MAX_P95_TTFT":      "-1s",
	}))
	if deploy.CodeOf(err) != deploy.InvalidConfig {
		t.Fatalf("err = %v", err)
	}
	for _, k := range []string{
		"RELAYSHIFT_ECS_CLUSTER: RELAYSHIFT_ECS_CLUSTER, RELAYSHIFT_ECS_BLUE_SERVICE and RELAYSHIFT_ECS_GREEN_SERVICE go together",
		"RELAYSHIFT_RELEASE_MAX_CHECKS", "RELAYSHIFT_MIN_HEALTHY_TARGETS", "RELAYSHIFT_TEST_URL: URL \"https://user:xxxxx@relay.example.com\" must not carry credentials",
		"RELAYSHIFT_TEST_HEADER", "RELAYSHIFT_HEALTH_PATH", "RELAYSHIFT_API_KEY_SECRET_ARN", "RELAYSHIFT_PROBE_TIMEOUT",
		`RELAYSHIFT_WARMUP_MODELS: model "a" is listed twice`, "RELAYSHIFT_WARMUP_MAX_REQUESTS: 2 models x (10 requests + 5 streams) = 30 requests, above the cap of 10",
		"RELAYSHIFT_WARMUP_MIN_SUCCESS_RATIO", "RELAYSHIFT_WARMUP_MAX_P95_TTFT",
	} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not report %q:\n%v", k, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error repeats a secret:\n%v", err)
	}
}

func TestBuildersRequireTheirVariables(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build functions.Builder
		env   map[string]string
		want  string
	}{
		{"release ecs without services", functions.Release, map[string]string{"RELAYSHIFT_RELEASE_MODE": "ecs"}, "release mode ecs needs RELAYSHIFT_ECS_CLUSTER"},
		{"healthcheck without test URL", functions.HealthCheck, map[string]string{"RELAYSHIFT_BLUE_TARGET_GROUP_ARN": blueTG, "RELAYSHIFT_GREEN_TARGET_GROUP_ARN": greenTG}, "missing RELAYSHIFT_TEST_URL"},
		{"warmup without models", functions.WarmUp, map[string]string{"RELAYSHIFT_TEST_URL": "http://127.0.0.1:1"}, "missing RELAYSHIFT_WARMUP_MODELS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := functions.LoadConfig(lookup(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tc.build(cfg, aws.Config{Region: "eu-west-1"}, slog.New(slog.DiscardHandler))
			if deploy.CodeOf(err) != deploy.InvalidConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want InvalidConfig %q", err, tc.want)
			}
		})
	}
}

// secretsManager answers GetSecretValue with the relay key as JSON.
func secretsManager(t testing.TB, calls *int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.Contains(string(b), secretARN) {
			t.Errorf("unexpected request %s %s", r.Header.Get("X-Amz-Target"), b)
		}
		secret, _ := json.Marshal(map[string]string{"apiKey": relayKey})
		body, _ := json.Marshal(map[string]any{"ARN": secretARN, "Name": "relay/api-key", "SecretString": string(secret), "VersionId": "v1"})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWarmUpKeyNeverLogged builds the warmup function as its main does —
// the key read from Secrets Manager at cold start, the functions' logger —
// runs healthy and failing warm-ups against a relaysim that requires the
// key, and checks every captured log line.
func TestWarmUpKeyNeverLogged(t *testing.T) {
	var secretCalls int
	smURL := secretsManager(t, &secretCalls)
	sim, err := relaysim.New(relaysim.Config{APIKey: relayKey, Models: []string{"sim-small"}})
	if err != nil {
		t.Fatal(err)
	}
	relay := httptest.NewServer(sim)
	defer relay.Close()

	var logs bytes.Buffer
	log := functions.NewLogger(&logs, slog.LevelDebug)
	cfg, err := functions.LoadConfig(lookup(map[string]string{
		"RELAYSHIFT_TEST_URL": relay.URL, "RELAYSHIFT_WARMUP_MODELS": "sim-small", "RELAYSHIFT_API_KEY_SECRET_ARN": secretARN,
	}))
	if err != nil {
		t.Fatal(err)
	}
	h, err := functions.WarmUp(cfg, aws.Config{
		Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), BaseEndpoint: aws.String(smURL),
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	rec := deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"), Version: "v2",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 1},
		Plan: deploy.Plan{Strategy: deploy.AllAtOnce, Steps: []deploy.Step{{Percent: 100}}},
	}
	payload, _ := json.Marshal(map[string]any{"executionArn": rec.ExecutionARN, "deployment": rec})
	var failures []string
	for _, f := range []relaysim.Faults{{}, {ErrorRate: 0.2}, {BrokenSSE: true}, {ErrorRate: 1, ErrorStatus: 401}} {
		if err := sim.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		out, err := h.Invoke(context.Background(), payload)
		if f == (relaysim.Faults{}) {
			if err != nil || !strings.Contains(string(out), `"passed":true`) {
				t.Fatalf("healthy warm-up: %v %s", err, out)
			}
			continue
		}
		if err == nil {
			t.Fatalf("faults %+v: warm-up passed", f)
		}
		failures = append(failures, err.Error())
	}
	if secretCalls != 1 {
		t.Fatalf("GetSecretValue called %d times, want once per cold start", secretCalls)
	}
	if s := sim.Stats(); s.Chat == 0 {
		t.Fatal("the relay saw no request")
	}
	all := logs.String() + strings.Join(failures, "\n")
	if !strings.Contains(all, "warm-up passed") || !strings.Contains(all, "WarmupFailed") {
		t.Fatalf("logs do not show the warm-ups:\n%s", all)
	}
	for i, line := range strings.Split(all, "\n") {
		if strings.Contains(line, relayKey) {
			t.Fatalf("log line %d carries the API key: %s", i+1, line)
		}
	}
}

// TestCandidateEvents decodes the sample payloads of release, healthcheck
// and warmup (sam local invoke -e) strictly, as their edges do.
