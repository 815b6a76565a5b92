package candidate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/relayprobe"
	"github.com/relayshift/relayshift/internal/relaysim"
)

const (
	testKey  = "sk-relayshift-candidate-test-9f8e7d6c5b4a"
	blueARN  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	greenARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-green/6d0ecf831eec9f09"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func record() deploy.Record {
	return deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"), Version: "v2", Commit: "abc1234",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 1},
		Plan: deploy.Plan{Strategy: deploy.AllAtOnce, Steps: []deploy.Step{{Percent: 100}}}, StartedAt: t0,
	}
}

func input() candidate.Input {
	rec := record()
	return candidate.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec}
}

func sim(t *testing.T, cfg relaysim.Config) *httptest.Server {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	s, err := relaysim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func probe(t *testing.T, u, key string) *relayprobe.Client {
	t.Helper()
	c, err := relayprobe.NewClient(relayprobe.Target{URL: u}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	return c
}

func healthCheck(targets deploy.Targets, p *relayprobe.Client) *candidate.HealthCheck {
	return &candidate.HealthCheck{
		Targets: targets, Probes: both(p), MinHealthyTargets: 2, HealthPath: "/health",
		Models: []string{"sim-small", "sim-large"}, Now: func() time.Time { return t0 },
	}
}

func wantCode(t *testing.T, err error, code deploy.Code, text string) {
	t.Helper()
	if err == nil || deploy.CodeOf(err) != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want %s containing %q", err, code, text)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestHealthCheckTargets(t *testing.T) {
	srv := sim(t, relaysim.Config{})
	for _, tc := range []struct {
		name   string
		health deploy.Health
		code   deploy.Code
		text   string
	}{
		{"initial", deploy.Health{Total: 2, Healthy: 1, Initial: 1, Reasons: []string{"Elb.InitialHealthChecking"}}, deploy.TargetsNotReady, "initial health checks"},
		{"unhealthy", deploy.Health{Total: 3, Healthy: 1, Initial: 1, Unhealthy: 1, Reasons: []string{"Target.ResponseCodeMismatch"}}, deploy.CandidateUnhealthy, "Target.ResponseCodeMismatch"},
		{"none registered", deploy.Health{}, deploy.CandidateUnhealthy, "no registered targets"},
		{"fewer than required", deploy.Health{Total: 2, Healthy: 1, Draining: 1}, deploy.CandidateUnhealthy, "1 healthy targets, fewer than the 2 required"},
		{"healthy", deploy.Health{Total: 3, Healthy: 2, Draining: 1}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deploytest.NewRouter(deploy.Weights{Blue: 1})
			r.SetHealth(deploy.Green, tc.health)
			r.SetHealth(deploy.Blue, deploy.Health{Total: 1, Unhealthy: 1}) // the stable colour is not judged
			out, err := healthCheck(r, probe(t, srv.URL, testKey)).Handle(context.Background(), discard(), input())
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.text)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := candidate.HealthOutput{
				Colour: deploy.Green, Targets: deploy.Health{Total: 3, Healthy: 2, Draining: 1, Reasons: []string{}}, MinHealthyTargets: 2,
				URL: srv.URL, HealthPath: "/health", HealthStatus: 200, Models: []string{"sim-small", "sim-large"}, ModelsListed: 2, CheckedAt: t0,
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Fatalf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthCheckReadiness(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  relaysim.Config
		key  string
		path string
		code deploy.Code
		text string
	}{
		{"slow start", relaysim.Config{Faults: relaysim.Faults{StartDelay: relaysim.Duration(time.Hour)}}, testKey, "/health", deploy.TargetsNotReady, "answered 503"},
		{"crashed", relaysim.Config{Faults: relaysim.Faults{Crash: true}}, testKey, "/health", deploy.TargetsNotReady, "connection"},
		{"wrong health path", relaysim.Config{}, testKey, "/healthz", deploy.CandidateUnhealthy, "answered 404, want 200"},
		{"model missing", relaysim.Config{Models: []string{"sim-small"}}, testKey, "/health", deploy.CandidateUnhealthy, "does not list the warm-up models sim-large"},
		{"wrong key", relaysim.Config{}, "sk-wrong", "/health", deploy.CandidateUnhealthy, "auth: HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sim(t, tc.sim)
			h := healthCheck(deploytest.NewRouter(deploy.Weights{Blue: 1}), probe(t, srv.URL, tc.key))
			h.MinHealthyTargets, h.HealthPath = 1, tc.path
			_, err := h.Handle(context.Background(), discard(), input())
			wantCode(t, err, tc.code, tc.text)
		})
	}
}

// TestHealthCheckModelsNotReady: /health answers but /v1/models gets a
// gateway status (the load balancer has no target ready for it yet): the
// candidate is retried, not declared unhealthy; any other status is.
func TestHealthCheckModelsNotReady(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   deploy.Code
	}{
		{http.StatusServiceUnavailable, deploy.TargetsNotReady},
		{http.StatusBadGateway, deploy.TargetsNotReady},
		{http.StatusNotFound, deploy.CandidateUnhealthy},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				w.WriteHeader(tc.status)
			}
		}))
		h := healthCheck(deploytest.NewRouter(deploy.Weights{Blue: 1}), probe(t, srv.URL, testKey))
		h.MinHealthyTargets = 1
		_, err := h.Handle(context.Background(), discard(), input())
		srv.Close()
		wantCode(t, err, tc.code, "/v1/models")
	}
}

// elbv2Endpoint answers DescribeTargetHealth (awsQuery) with the XML fixture
// of the target group asked for, and records the request parameters.
func elbv2Endpoint(t *testing.T, fixtures map[string]string) (*alb.Router, *[]url.Values) {
	t.Helper()
	var calls []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v, err := url.ParseQuery(string(b))
		if err != nil || v.Get("Action") != "DescribeTargetHealth" || v.Get("Version") != "2015-12-01" {
			t.Errorf("unexpected request %q", b)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		calls = append(calls, v)
		body, err := os.ReadFile(filepath.Join("testdata", fixtures[v.Get("TargetGroupArn")]))
		if err != nil {
			t.Errorf("fixture for %s: %v", v.Get("TargetGroupArn"), err)
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	client := elbv2.NewFromConfig(aws.Config{
		Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), BaseEndpoint: aws.String(srv.URL),
	})
	r := alb.New(client, alb.Listener{
		ListenerARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2",
		Blue:        blueARN, Green: greenARN,
	})
	return r, &calls
}

// TestHealthCheckFromELBv2Responses drives the real ELBv2 client and adapter
// with AWS-shaped DescribeTargetHealth answers.
func TestHealthCheckFromELBv2Responses(t *testing.T) {
	srv := sim(t, relaysim.Config{})
	for _, tc := range []struct {
		fixture string
		code    deploy.Code
		text    string
	}{
		{"target-health-initial.xml", deploy.TargetsNotReady, "3 registered: 1 healthy, 2 initial, 0 unhealthy, 0 draining, 0 unused, 0 unavailable; reasons Elb.InitialHealthChecking, Elb.RegistrationInProgress"},
		{"target-health-unhealthy.xml", deploy.CandidateUnhealthy, "green target group has unhealthy targets (3 registered: 1 healthy, 1 initial, 1 unhealthy"},
		{"target-health-empty.xml", deploy.CandidateUnhealthy, "no registered targets"},
		{"target-health-unused.xml", deploy.CandidateUnhealthy, "0 healthy targets, fewer than the 2 required"},
		{"target-health-healthy.xml", "", ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			r, calls := elbv2Endpoint(t, map[string]string{greenARN: tc.fixture, blueARN: "target-health-unhealthy.xml"})
			out, err := healthCheck(r, probe(t, srv.URL, testKey)).Handle(context.Background(), discard(), input())
			if len(*calls) != 1 || (*calls)[0].Get("TargetGroupArn") != greenARN {
				t.Fatalf("calls %v: want one DescribeTargetHealth of the green target group", *calls)
			}
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.text)
				return
			}
			if err != nil || out.Targets.Healthy != 2 || out.Targets.Draining != 1 || out.HealthStatus != 200 {
				t.Fatalf("%v %+v", err, out)
			}
		})
	}
}

func warmUp(p *relayprobe.Client, models ...string) *candidate.WarmUp {
	cfg := relayprobe.DefaultWarmupConfig()
	cfg.Models = models
	return &candidate.WarmUp{Probes: both(p), Config: cfg, Now: func() time.Time { return t0 }}
}

func TestWarmUp(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		srv := sim(t, relaysim.Config{})
		out, err := warmUp(probe(t, srv.URL, testKey), "sim-small", "sim-large").Handle(context.Background(), discard(), input())
		if err != nil {
			t.Fatal(err)
		}
		if !out.Passed || out.Requests != 30 || len(out.Models) != 2 || out.Colour != deploy.Green || out.URL != srv.URL {
			t.Fatalf("%+v", out)
		}
		for _, m := range out.Models {
			if m.LatencyP95Ms <= 0 || m.TTFTP95Ms <= 0 {
				t.Errorf("%s has no latency or TTFT figures: %+v", m.Model, m)
			}
			t.Logf("%s: latency p50 %.2f ms p95 %.2f ms, TTFT p50 %.2f ms p95 %.2f ms", m.Model, m.LatencyP50Ms, m.LatencyP95Ms, m.TTFTP50Ms, m.TTFTP95Ms)
		}
		// Every output field is present in the JSON (no omitempty).
		b, _ := json.Marshal(out)
		var fields map[string]any
		_ = json.Unmarshal(b, &fields)
		for _, k := range []string{"colour", "url", "passed", "requests", "durationMs", "models", "thresholds", "dryRun", "startedAt", "finishedAt"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("output lacks %q", k)
			}
		}
	})
	for _, tc := range []struct {
		name string
		sim  relaysim.Config
		text []string
	}{
		{"20% 500s", relaysim.Config{Faults: relaysim.Faults{ErrorRate: 0.2}}, []string{`model "sim-small" 5xx:`, "HTTP 500"}},
		{"broken SSE", relaysim.Config{Faults: relaysim.Faults{BrokenSSE: true}}, []string{`model "sim-small" bad_sse:`, "5 of 5 streams failed (bad_sse=5)", "stream ended without data: [DONE]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sim(t, tc.sim)
			_, err := warmUp(probe(t, srv.URL, testKey), "sim-small").Handle(context.Background(), discard(), input())
			for _, text := range tc.text {
				wantCode(t, err, deploy.WarmupFailed, text)
			}
			t.Logf("%v", err)
		})
	}
}

func TestWarmUpRefusesForeignExecution(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	in := input()
	in.ExecutionARN = deploytest.ExecutionARN("another")
	_, err := warmUp(probe(t, srv.URL, testKey), "m").Handle(context.Background(), discard(), in)
	wantCode(t, err, deploy.InvalidInput, "does not match")
	if hits != 0 {
		t.Fatalf("%d requests sent for an invalid payload", hits)
	}
}

// TestWarmUpLogsNeverCarryTheKey captures every log line of healthy and
// failing warm-ups and health checks, at debug level, through the edge.
func TestWarmUpLogsNeverCarryTheKey(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, faults := range []relaysim.Faults{{}, {ErrorRate: 0.2}, {BrokenSSE: true}, {Crash: true}} {
		srv := sim(t, relaysim.Config{Faults: faults})
		p := probe(t, srv.URL, testKey)
		payload, _ := json.Marshal(input())
		_, _ = deploy.NewEdge("warmup", log, warmUp(p, "sim-small").Handle).Invoke(context.Background(), payload)
		_, _ = deploy.NewEdge("healthcheck", log, healthCheck(deploytest.NewRouter(deploy.Weights{Blue: 1}), p).Handle).Invoke(context.Background(), payload)
	}
	if buf.Len() == 0 || !strings.Contains(buf.String(), "warm-up passed") || !strings.Contains(buf.String(), "WarmupFailed") {
		t.Fatalf("the warm-ups did not log as expected:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), testKey) {
		t.Fatalf("the API key appears in the logs:\n%s", buf.String())
	}
}

// TestWarmUpStopsBeforeTheFunctionTimeout: a warm-up that cannot finish
// reports WarmupFailed (timeout) while the invocation still has time,
// instead of being killed by the Lambda timeout without a named error.
func TestWarmUpStopsBeforeTheFunctionTimeout(t *testing.T) {
	srv := sim(t, relaysim.Config{Faults: relaysim.Faults{Latency: relaysim.Duration(time.Minute)}})
	w := warmUp(probe(t, srv.URL, testKey), "sim-small")
	w.DeadlineMargin = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), w.DeadlineMargin+300*time.Millisecond)
	defer cancel()
	_, err := w.Handle(ctx, discard(), input())
	wantCode(t, err, deploy.WarmupFailed, `model "sim-small" timeout:`)
	if ctx.Err() != nil {
		t.Fatalf("the warm-up used up the invocation's time: %v", err)
	}
	t.Logf("%v", err)
}

// both routes both colours' probes to one client: these tests run one relay.
func both(p *relayprobe.Client) map[deploy.Colour]*relayprobe.Client {
	return map[deploy.Colour]*relayprobe.Client{deploy.Blue: p, deploy.Green: p}
}

// TestProbesFollowTheCandidateColour runs a healthy relay as green and a
// broken one as blue: the health check and warm-up of a deployment whose
// candidate is green must reach green only.
func TestProbesFollowTheCandidateColour(t *testing.T) {
	green := sim(t, relaysim.Config{})
	blue := sim(t, relaysim.Config{Faults: relaysim.Faults{Crash: true}})
	probes := map[deploy.Colour]*relayprobe.Client{deploy.Blue: probe(t, blue.URL, testKey), deploy.Green: probe(t, green.URL, testKey)}
	r := deploytest.NewRouter(deploy.Weights{Blue: 1})
	r.SetHealth(deploy.Green, deploy.Health{Total: 2, Healthy: 2})
	h := healthCheck(r, nil)
	h.Probes = probes
	if _, err := h.Handle(context.Background(), discard(), input()); err != nil {
		t.Fatalf("health check of green: %v", err)
	}
	w := warmUp(nil, "sim-small")
	w.Probes = probes
	if _, err := w.Handle(context.Background(), discard(), input()); err != nil {
		t.Fatalf("warm-up of green: %v", err)
	}
}
