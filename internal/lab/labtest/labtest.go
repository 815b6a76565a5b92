// Package labtest starts the local lab for tests in other packages, shaped
// like the tier-3 harness's moto fixture (emulators.CreateALB), so that
// the emulator tests run against the lab with the same code as against
// moto_server: only the endpoint differs.
package labtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/lab"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
)

// Backend is a running lab behind the harness's recording proxy.
type Backend struct {
	Lab *lab.Lab
	// AWS is the lab's endpoint behind a Recorder, in the harness's shape:
	// AWS.URL records, AWS.Direct bypasses the recorder.
	AWS *emulators.Moto
	// ALB names the lab's load balancer resources as emulators.CreateALB
	// names moto's.
	ALB emulators.ALB
}

// Start starts a lab for the test's lifetime: the project's template.yaml
// deployed as stack "labtest";
// a production listener forwarding 100% to blue with group stickiness on
// (300 s); a rule on it (priority 10, path /v1/*) with the same forward
// action; blue and green target groups with one healthy relaysim target
// each; the functions in process; AWS time 60 times faster. It waits until
// both targets are healthy. mutate, if given, adjusts the config first.
func Start(t testing.TB, mutate ...func(*lab.Config)) *Backend {
	t.Helper()
	cfg := lab.DefaultConfig()
	cfg.Template = filepath.Join(emulators.ModuleRoot(t), "template.yaml")
	// The stack's own state machine is labtest-deploy, leaving the name
	// the harness's fixture creates (relayshift-deploy) to the tests.
	cfg.StackName = "labtest"
	cfg.Endpoint, cfg.LoadBalancer.Production, cfg.LoadBalancer.Test = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.LoadBalancer.StickinessSeconds = 300
	cfg.LoadBalancer.HealthCheck.Interval = lab.Duration(100 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.Timeout = lab.Duration(80 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.HealthyThreshold = 1
	cfg.Blue = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 1, Version: "v1"}}
	cfg.Green = lab.ColourConfig{Relaysim: &lab.RelaysimConfig{Instances: 1, Version: "v2"}}
	for _, m := range mutate {
		m(&cfg)
	}
	l, err := lab.Start(context.Background(), cfg, lab.Options{})
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	// The rule mirrors the default action, as the moto fixture's does; it
	// is created here rather than in the config so the lab's own functions
	// keep the default action as their split carrier, like the bootstraps
	// the tests configure.
	acts := l.Production.DefaultActions()
	rule, err := l.LB.AddRule(l.Production.ARN(), loadbalancer.RuleSpec{Key: "api", Priority: 10,
		Conditions: []loadbalancer.Condition{{Field: "path-pattern", Values: []string{"/v1/*"}}}, Actions: acts})
	if err != nil {
		t.Fatalf("lab rule: %v", err)
	}
	b := &Backend{
		Lab: l,
		AWS: &emulators.Moto{Recorder: emulators.NewRecorder(t, l.Endpoint()), Direct: l.Endpoint()},
		ALB: emulators.ALB{LoadBalancerARN: l.LB.ARN(), ListenerARN: l.Production.ARN(), RuleARN: rule.ARN, BlueARN: l.Blue.ARN(), GreenARN: l.Green.ARN()},
	}
	b.WaitHealthy(t)
	return b
}

// WaitHealthy waits until every target of both colours is healthy.
func (b *Backend) WaitHealthy(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Lab.WaitHealthy(ctx); err != nil {
		t.Fatalf("%v", err)
	}
}
