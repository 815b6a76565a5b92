package functions

import (
	"bytes"
	"github.com/aws/aws-sdk-go-v2/aws"
	"log/slog"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/deploy"
)

const (
	listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	rule     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	blueTG   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	greenTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/a1b2c3d4e5f60718"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		EnvListenerARN: listener, EnvRuleARN: rule, EnvBlueTG: blueTG, EnvGreenTG: greenTG,
		EnvDefaultStrategy: `{"steps":[50,100],"bakeSeconds":30}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Service != "relay" || c.ReleaseMode != ReleaseExternal || c.DefaultStrategy.Name() != deploy.Custom {
		t.Fatalf("defaults: %+v", c)
	}
	if got := c.LoadBalancerDimension(); got != "app/relay/50dc6c495c0c9188" {
		t.Fatalf("LoadBalancer dimension %q", got)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{
		EnvService:         "relay service",
		EnvListenerARN:     "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/relay/50dc6c495c0c9188",
		EnvRuleARN:         "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/other/1111111111111111/2222222222222222/3333333333333333",
		EnvBlueTG:          blueTG,
		EnvGreenTG:         blueTG,
		EnvDefaultStrategy: "Canary99Percent",
		EnvReleaseMode:     "k8s",
	}))
	if deploy.CodeOf(err) != deploy.InvalidConfig {
		t.Fatalf("got %v, want InvalidConfig", err)
	}
	for _, k := range []string{EnvService, EnvListenerARN, EnvGreenTG, EnvDefaultStrategy, EnvReleaseMode} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s: %v", k, err)
		}
	}
	_, err = LoadConfig(env(map[string]string{EnvListenerARN: listener, EnvRuleARN: strings.Replace(rule, "f2f7dc8efc522ab2", "0000000000000000", 1)}))
	if err == nil || !strings.Contains(err.Error(), "does not belong to listener") {
		t.Fatalf("foreign rule accepted: %v", err)
	}
}

func TestBuildersRequireTheirConfiguration(t *testing.T) {
	for _, f := range All() {
		// Release in external mode needs nothing; in ecs mode it needs the
		// cluster and services.
		cfg := Config{ReleaseMode: ReleaseECS}
		if _, err := f.Build(cfg, awsConfigForTest(), slog.New(slog.DiscardHandler)); deploy.CodeOf(err) != deploy.InvalidConfig {
			t.Errorf("%s built without configuration: %v", f.Name, err)
		}
	}
}

func TestLoggerRedactsCredentials(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b, slog.LevelInfo)
	log.Info("call", "Authorization", "Bearer sk-live-123", "api_key", "sk-live-123",
		slog.Group("request", "headers", slog.GroupValue(slog.String("authorization", "Bearer sk-live-123"))),
		"max_tokens", 8, "model", "gpt-4o-mini")
	out := b.String()
	if strings.Contains(out, "sk-live-123") {
		t.Fatalf("credential logged: %s", out)
	}
	if !strings.Contains(out, `"max_tokens":8`) || !strings.Contains(out, `"model":"gpt-4o-mini"`) {
		t.Fatalf("ordinary attributes redacted: %s", out)
	}
}

func awsConfigForTest() aws.Config { return aws.Config{Region: "us-east-1"} }

func TestTestRouteFollowsTheColour(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		EnvTestURL:    "http://relay-{colour}.internal:8443/",
		EnvTestHeader: "X-Relayshift-Colour: {colour}",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Candidate.TestRoute(deploy.Green)
	if got.URL != "http://relay-green.internal:8443/" || got.HeaderName != "X-Relayshift-Colour" || got.HeaderValue != "green" {
		t.Fatalf("green route: %+v", got)
	}
	if got := c.Candidate.TestRoute(deploy.Blue); got.HeaderValue != "blue" {
		t.Fatalf("blue route: %+v", got)
	}
}
