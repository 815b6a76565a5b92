package relayprobe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/relayprobe"
	"github.com/relayshift/relayshift/internal/relaysim"
)

const testKey = "sk-relayshift-test-0123456789abcdef"

// startSim serves a relaysim with faults on httptest (loopback).
func startSim(t *testing.T, cfg relaysim.Config) *httptest.Server {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	sim, err := relaysim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, url, key string, timeout time.Duration, header ...string) *relayprobe.Client {
	t.Helper()
	target := relayprobe.Target{URL: url}
	if len(header) == 2 {
		target.HeaderName, target.HeaderValue = header[0], header[1]
	}
	c, err := relayprobe.NewClient(target, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if timeout > 0 {
		c.Timeout = timeout
	}
	return c
}

func warmupConfig(models ...string) relayprobe.WarmupConfig {
	cfg := relayprobe.DefaultWarmupConfig()
	cfg.Models = models
	return cfg
}

func TestWarmupHealthy(t *testing.T) {
	srv := startSim(t, relaysim.Config{Models: []string{"sim-small", "sim-large"}, Version: "v2", TokenInterval: time.Millisecond})
	rep, err := relayprobe.Warmup(context.Background(), newClient(t, srv.URL, testKey, 0), warmupConfig("sim-small", "sim-large"))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.Requests != 30 || len(rep.Models) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, m := range rep.Models {
		if !m.Passed || m.Requests != 10 || m.Streams != 5 || m.Succeeded != 15 || m.StreamsSucceeded != 5 || m.Failed != 0 || m.SuccessRatio != 1 {
			t.Errorf("%s: %+v", m.Model, m)
		}
		if diff := cmp.Diff(relayprobe.Failures{}, m.Failures); diff != "" {
			t.Errorf("%s failures (-want +got):\n%s", m.Model, diff)
		}
		if m.LatencyP50Ms <= 0 || m.LatencyP95Ms < m.LatencyP50Ms || m.TTFTP50Ms <= 0 || m.TTFTP95Ms < m.TTFTP50Ms {
			t.Errorf("%s: implausible figures %+v", m.Model, m)
		}
		t.Logf("healthy warm-up %s: %d requests + %d streams, latency p50 %.2f ms p95 %.2f ms, TTFT p50 %.2f ms p95 %.2f ms",
			m.Model, m.Requests, m.Streams, m.LatencyP50Ms, m.LatencyP95Ms, m.TTFTP50Ms, m.TTFTP95Ms)
	}
	t.Logf("healthy warm-up: %d requests in %.1f ms", rep.Requests, rep.DurationMs)
	if rep.Summary() != "all 2 models passed (30 requests)" {
		t.Errorf("summary %q", rep.Summary())
	}
}

func TestWarmupFailureClasses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sim      relaysim.Config
		key      string
		timeout  time.Duration
		tweak    func(*relayprobe.WarmupConfig)
		class    relayprobe.Class
		failures relayprobe.Failures
		reason   string
	}{
		{
			name:     "20% 500s",
			sim:      relaysim.Config{Faults: relaysim.Faults{ErrorRate: 0.2}},
			class:    relayprobe.ServerError,
			failures: relayprobe.Failures{ServerError: 3},
			reason:   "HTTP 500",
		},
		{
			name:     "rate limited",
			sim:      relaysim.Config{Faults: relaysim.Faults{ErrorRate: 0.5, ErrorStatus: 429}},
			class:    relayprobe.RateLimited,
			failures: relayprobe.Failures{RateLimited: 7},
			reason:   "HTTP 429",
		},
		{
			name:     "wrong key",
			key:      "sk-wrong",
			class:    relayprobe.Auth,
			failures: relayprobe.Failures{Auth: 15},
			reason:   "HTTP 401: invalid API key",
		},
		{
			name:     "unknown model",
			sim:      relaysim.Config{Models: []string{"other"}},
			class:    relayprobe.ClientError,
			failures: relayprobe.Failures{ClientError: 15},
			reason:   "HTTP 404",
		},
		{
			name:     "broken SSE framing",
			sim:      relaysim.Config{Faults: relaysim.Faults{BrokenSSE: true}},
			class:    relayprobe.BadSSE,
			failures: relayprobe.Failures{BadSSE: 5},
			reason:   "stream ended without data: [DONE]",
		},
		{
			name:     "wrong schema",
			sim:      relaysim.Config{Faults: relaysim.Faults{WrongSchema: true}},
			class:    relayprobe.BadSchema,
			failures: relayprobe.Failures{BadSchema: 15},
			reason:   `object is "text_completion", want chat.completion`,
		},
		{
			name:     "timeout",
			sim:      relaysim.Config{Faults: relaysim.Faults{Latency: relaysim.Duration(5 * time.Second)}},
			timeout:  50 * time.Millisecond,
			tweak:    func(c *relayprobe.WarmupConfig) { c.Requests, c.Streams, c.Concurrency = 4, 2, 6 },
			class:    relayprobe.Timeout,
			failures: relayprobe.Failures{Timeout: 6},
			reason:   "no answer within 50ms",
		},
		{
			name:     "crash",
			sim:      relaysim.Config{Faults: relaysim.Faults{CrashAfter: 3}},
			tweak:    func(c *relayprobe.WarmupConfig) { c.Concurrency = 1 },
			class:    relayprobe.Connection,
			failures: relayprobe.Failures{Connection: 12},
			reason:   "connection closed before the answer was complete",
		},
		{
			name: "slow first token",
			sim:  relaysim.Config{Faults: relaysim.Faults{FirstTokenDelay: relaysim.Duration(150 * time.Millisecond)}},
			tweak: func(c *relayprobe.WarmupConfig) {
				c.Requests, c.Streams, c.Concurrency, c.MaxP95TTFT = 1, 2, 3, 50*time.Millisecond
			},
			class:   relayprobe.SlowTTFT,
			reason:  "p95 time to first token",
			timeout: 10 * time.Second,
		},
		{
			name: "slow answers",
			sim:  relaysim.Config{Faults: relaysim.Faults{Latency: relaysim.Duration(150 * time.Millisecond)}},
			tweak: func(c *relayprobe.WarmupConfig) {
				c.Requests, c.Streams, c.Concurrency, c.MaxP95Latency = 2, 1, 3, 50*time.Millisecond
			},
			class:  relayprobe.SlowLatency,
			reason: "p95 latency",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, tc.sim)
			key := tc.key
			if key == "" {
				key = testKey
			}
			model := "sim-small"
			cfg := warmupConfig(model)
			if tc.tweak != nil {
				tc.tweak(&cfg)
			}
			rep, err := relayprobe.Warmup(context.Background(), newClient(t, srv.URL, key, tc.timeout), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Passed || len(rep.Failed()) != 1 {
				t.Fatalf("passed=%v, failed models %d; report %+v", rep.Passed, len(rep.Failed()), rep)
			}
			m := rep.Models[0]
			if m.Class != tc.class {
				t.Errorf("class %q, want %q (reasons %q)", m.Class, tc.class, m.Reasons)
			}
			if diff := cmp.Diff(tc.failures, m.Failures); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
			sum := rep.Summary()
			if !strings.Contains(sum, `model "sim-small" `+string(tc.class)+":") || !strings.Contains(sum, tc.reason) {
				t.Errorf("summary %q does not name the model, the class %q and %q", sum, tc.class, tc.reason)
			}
			if strings.Contains(sum, testKey) {
				t.Errorf("summary carries the API key")
			}
			t.Logf("%s", sum)
		})
	}
}

func TestWarmupExemptHeader(t *testing.T) {
	// A version that passes on the test route (which sends the header)
	// and fails every request without it.
	srv := startSim(t, relaysim.Config{Faults: relaysim.Faults{ErrorRate: 1, ExemptHeader: "X-Relayshift-Route: test"}})
	cfg := warmupConfig("sim-small")
	rep, err := relayprobe.Warmup(context.Background(), newClient(t, srv.URL, testKey, 0, "X-Relayshift-Route", "test"), cfg)
	if err != nil || !rep.Passed {
		t.Fatalf("with the header: %v %+v", err, rep)
	}
	rep, err = relayprobe.Warmup(context.Background(), newClient(t, srv.URL, testKey, 0), cfg)
	if err != nil || rep.Passed || rep.Models[0].Failures.ServerError != 15 {
		t.Fatalf("without the header: %v %+v", err, rep)
	}
}

func TestWarmupNeverSendsMoreThanTheCap(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n++
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := warmupConfig("a", "b")
	cfg.MaxRequests = 20
	if _, err := relayprobe.Warmup(context.Background(), newClient(t, srv.URL, "", 0), cfg); err == nil || !strings.Contains(err.Error(), "above the cap of 20") {
		t.Fatalf("err = %v, want the cap named", err)
	}
	if n != 0 {
		t.Fatalf("%d requests sent by a refused warm-up", n)
	}
}

func TestWarmupScrubsEchoedKey(t *testing.T) {
	// A relay that echoes the Authorization header in its error message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"key rejected: ` + r.Header.Get("Authorization") + `"}}`))
	}))
	defer srv.Close()
	cfg := warmupConfig("m")
	cfg.Requests, cfg.Streams = 1, 1
	rep, err := relayprobe.Warmup(context.Background(), newClient(t, srv.URL, testKey, 0), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Models[0].Class != relayprobe.Auth {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Summary(); strings.Contains(s, testKey) || !strings.Contains(s, "[REDACTED]") {
		t.Fatalf("summary %q: key not scrubbed", s)
	}
}

func TestWarmupConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*relayprobe.WarmupConfig)
		want  []string
	}{
		{"defaults", func(*relayprobe.WarmupConfig) {}, nil},
		{"no model", func(c *relayprobe.WarmupConfig) { c.Models = nil }, []string{"no warm-up model"}},
		{"duplicate", func(c *relayprobe.WarmupConfig) { c.Models = []string{"a", "a"} }, []string{`"a" is listed twice`}},
		{"over the cap", func(c *relayprobe.WarmupConfig) { c.MaxRequests = 10 }, []string{"15 requests, above the cap of 10"}},
		{"every problem", func(c *relayprobe.WarmupConfig) {
			c.Concurrency, c.MaxTokens, c.MinSuccessRatio = 0, 0, 1.5
		}, []string{"concurrency 0", "max tokens 0", "min success ratio 1.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := warmupConfig("a")
			tc.tweak(&cfg)
			err := cfg.Validate()
			if (err != nil) != (len(tc.want) > 0) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}
