package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/relaysim"
)

// Duration is a time.Duration written as a Go duration string ("1.5s") in
// the lab config.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 500ms or 2s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Config is the lab's configuration (lab.yaml). Every field has a default;
// see DefaultConfig.
type Config struct {
	// Template is the SAM template the alarms, the EventBridge rules, the
	// state machine and the functions' environment are read from.
	Template string `yaml:"template"`
	// StackName names the stack the template is "deployed" as.
	StackName string `yaml:"stackName"`
	Region    string `yaml:"region"`
	AccountID string `yaml:"accountId"`
	// TimeScale multiplies every AWS-side duration: Wait states and retry
	// intervals of the state machine, alarm periods, EventBridge retry
	// delays. 1/60 makes a minute last a second; 1 is real time.
	TimeScale float64 `yaml:"timeScale"`
	// Endpoint is the loopback address of the AWS endpoint (ELBv2,
	// CloudWatch, Step Functions, Secrets Manager).
	Endpoint string `yaml:"endpoint"`
	// LoadBalancer configures the ALB.
	LoadBalancer LoadBalancerConfig `yaml:"loadBalancer"`
	// Blue and Green are the colours' targets.
	Blue  ColourConfig `yaml:"blue"`
	Green ColourConfig `yaml:"green"`
	// Parameters override template parameters. The ones the lab's own
	// resources determine (listener, target groups...) are filled in from
	// the functions' RELAYSHIFT_* environment in the template.
	Parameters map[string]string `yaml:"parameters"`
	// Secrets are served by Secrets Manager GetSecretValue (name: value).
	Secrets map[string]string `yaml:"secrets"`
	// APIKey, when set, is required by the relaysim instances, and served
	// as the secret APIKeySecretName, whose ARN the functions get
	// (RELAYSHIFT_API_KEY_SECRET_ARN).
	APIKey string `yaml:"apiKey"`
	// Functions says how the Lambda functions run.
	Functions FunctionsConfig `yaml:"functions"`
}

// LoadBalancerConfig configures the lab's ALB.
type LoadBalancerConfig struct {
	Name string `yaml:"name"`
	// Production and Test are the listeners' loopback addresses. The test
	// listener is infra/relay.yaml's: a request reaches the colour its
	// TestHeader names (blue or green), and nothing without it (404).
	// relayshift sends the candidate's colour there.
	Production string `yaml:"production"`
	Test       string `yaml:"test"`
	// TestHeader is the test route's routing header (default
	// DefaultTestHeader).
	TestHeader string `yaml:"testHeader"`
	// Rule, when set, adds a listener rule to the production listener that
	// carries the blue/green split (RELAYSHIFT_RULE_ARN) instead of the
	// default action.
	Rule *RuleConfig `yaml:"rule"`
	// Stickiness enables target-group stickiness on the split (seconds; 0:
	// off).
	StickinessSeconds int `yaml:"stickinessSeconds"`
	// ColourHeader names the response header carrying the serving colour.
	ColourHeader string `yaml:"colourHeader"`
	// HealthCheck of both target groups.
	HealthCheck HealthCheckConfig `yaml:"healthCheck"`
	// DeregistrationDelay is how long a deregistered target drains.
	DeregistrationDelay Duration `yaml:"deregistrationDelay"`
	// Stable is the colour carrying all production traffic at start.
	Stable string `yaml:"stable"`
}

// RuleConfig is a listener rule on path patterns.
type RuleConfig struct {
	Priority     int      `yaml:"priority"`
	PathPatterns []string `yaml:"pathPatterns"`
}

// HealthCheckConfig configures target health checks.
type HealthCheckConfig struct {
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthyThreshold"`
	UnhealthyThreshold int      `yaml:"unhealthyThreshold"`
	Matcher            string   `yaml:"matcher"`
}

// ColourConfig lists a colour's targets: relaysim instances the lab runs,
// and/or URLs of targets already running.
type ColourConfig struct {
	// Relaysim runs stand-in relays (internal/relaysim) in the lab's
	// process, each on its own loopback port.
	Relaysim *RelaysimConfig `yaml:"relaysim"`
	// URLs are targets already running (relays, or anything HTTP).
	URLs []string `yaml:"urls"`
}

// RelaysimConfig describes a colour's relaysim instances.
type RelaysimConfig struct {
	// Instances is the number of targets (default 1).
	Instances int `yaml:"instances"`
	// Version is what /health and X-Relay-Version report.
	Version string `yaml:"version"`
	// Models served (default relaysim.DefaultModels()).
	Models []string `yaml:"models"`
	// TokenInterval between streamed tokens.
	TokenInterval Duration `yaml:"tokenInterval"`
	// Faults are relaysim's fault knobs, with its JSON names: errorRate,
	// errorStatus, latency, firstTokenDelay, brokenSSE, wrongSchema,
	// crashAfter, crash, startDelay, exemptHeader.
	Faults map[string]any `yaml:"faults"`
}

// faults decodes the fault knobs strictly.
func (r RelaysimConfig) faults() (relaysim.Faults, error) {
	var f relaysim.Faults
	if len(r.Faults) == 0 {
		return f, nil
	}
	b, err := json.Marshal(r.Faults)
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("faults: %w", err)
	}
	return f, f.Validate()
}

// Function modes.
const (
	FunctionsInProcess = "in-process"
	FunctionsEndpoint  = "endpoint"
)

// FunctionsConfig says how Lambda functions run.
type FunctionsConfig struct {
	// Mode is "in-process" (the handlers of internal/functions, the same
	// code as the bootstraps) or "endpoint" (a Lambda invoke endpoint:
	// `sam local start-lambda`, aws-lambda-rie).
	Mode string `yaml:"mode"`
	// Endpoint is the invoke endpoint's base URL in endpoint mode (`sam
	// local start-lambda`); the lab POSTs
	// /2015-03-31/functions/<name>/invocations.
	Endpoint string `yaml:"endpoint"`
	// Endpoints, in endpoint mode instead of Endpoint, give each function
	// (by logical id) its own aws-lambda-rie base URL.
	Endpoints map[string]string `yaml:"endpoints"`
	// Timeout, when set, bounds every in-process invocation instead of
	// each function's own Timeout in the template (the default). It is
	// wall-clock time, not scaled.
	Timeout Duration `yaml:"timeout"`
}

// DefaultConfig returns the lab's defaults: the template in the working
// directory, time 60 times faster, fixed loopback ports.
func DefaultConfig() Config {
	return Config{
		Template: "template.yaml", StackName: "relayshift", Region: "us-east-1", AccountID: "123456789012",
		TimeScale: 1.0 / 60, Endpoint: "127.0.0.1:4566",
		LoadBalancer: LoadBalancerConfig{
			Name: "relay", Production: "127.0.0.1:8080", Test: "127.0.0.1:8081", TestHeader: DefaultTestHeader, Stable: "blue",
			ColourHeader: loadbalancer.DefaultColourHeader,
			HealthCheck: HealthCheckConfig{Path: "/health", Interval: Duration(time.Second), Timeout: Duration(500 * time.Millisecond),
				HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"},
			DeregistrationDelay: Duration(5 * time.Second),
		},
		Blue:      ColourConfig{Relaysim: &RelaysimConfig{Instances: 2, Version: "v1"}},
		Green:     ColourConfig{Relaysim: &RelaysimConfig{Instances: 2, Version: "v2"}},
		Functions: FunctionsConfig{Mode: FunctionsInProcess},
	}
}

// EphemeralConfig returns DefaultConfig for a lab a program starts for
// itself beside other labs (the demo, the bench): template and timeScale,
// every listener on a free loopback port, health checks every 200 ms
// (150 ms timeout), deregistered targets drained in 1 s, apiKey required by
// the relaysim targets (and served to the functions from Secrets Manager),
// blue on two relaysim targets running v1 with tokenInterval between
// streamed tokens, and green without targets.
func EphemeralConfig(template string, timeScale float64, apiKey string, tokenInterval time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Template, cfg.TimeScale, cfg.APIKey = template, timeScale, apiKey
	cfg.Endpoint, cfg.LoadBalancer.Production, cfg.LoadBalancer.Test = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.LoadBalancer.HealthCheck.Interval = Duration(200 * time.Millisecond)
	cfg.LoadBalancer.HealthCheck.Timeout = Duration(150 * time.Millisecond)
	cfg.LoadBalancer.DeregistrationDelay = Duration(time.Second)
	cfg.Blue = ColourConfig{Relaysim: &RelaysimConfig{Instances: 2, Version: "v1", TokenInterval: Duration(tokenInterval)}}
	cfg.Green = ColourConfig{}
	return cfg
}

// APIKeySecretName is the name of the secret holding Config.APIKey.
const APIKeySecretName = "relayshift/lab/relay-api-key"

// LoadConfig reads a lab config over the defaults, strictly (unknown keys
// are errors). Relative paths in it are relative to its directory.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if !filepath.IsAbs(cfg.Template) {
		cfg.Template = filepath.Join(filepath.Dir(path), cfg.Template)
	}
	return cfg, cfg.Validate()
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TimeScale <= 0 || c.TimeScale > 1 {
		bad("timeScale %v: want a factor in (0, 1], e.g. 0.0166 for 60 times faster", c.TimeScale)
	}
	for name, addr := range map[string]string{"endpoint": c.Endpoint, "loadBalancer.production": c.LoadBalancer.Production, "loadBalancer.test": c.LoadBalancer.Test} {
		if err := loopback(addr); err != nil {
			bad("%s: %v", name, err)
		}
	}
	if s := c.LoadBalancer.Stable; s != "blue" && s != "green" {
		bad("loadBalancer.stable %q: want blue or green", s)
	}
	for colour, cc := range map[string]ColourConfig{"blue": c.Blue, "green": c.Green} {
		if r := cc.Relaysim; r != nil {
			if r.Instances < 0 || r.Instances > 16 {
				bad("%s.relaysim.instances %d: want 0 to 16", colour, r.Instances)
			}
			if _, err := r.faults(); err != nil {
				bad("%s.relaysim.%v", colour, err)
			}
		}
		for _, u := range cc.URLs {
			if p, err := url.Parse(u); err != nil || p.Scheme != "http" || p.Host == "" {
				bad("%s.urls: %q is not an http:// URL", colour, u)
			}
		}
	}
	switch c.Functions.Mode {
	case FunctionsInProcess:
	case FunctionsEndpoint:
		if (c.Functions.Endpoint == "") == (len(c.Functions.Endpoints) == 0) {
			bad("functions: endpoint mode needs either endpoint or endpoints")
		}
	default:
		bad("functions.mode %q: want %s or %s", c.Functions.Mode, FunctionsInProcess, FunctionsEndpoint)
	}
	if r := c.LoadBalancer.Rule; r != nil && (r.Priority < 1 || r.Priority > 50000 || len(r.PathPatterns) == 0) {
		bad("loadBalancer.rule: want a priority in 1-50000 and at least one path pattern")
	}
	return errors.Join(errs...)
}

// loopback checks that addr is host:port on a loopback host: the lab never
// listens on other interfaces.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if ip, err := netip.ParseAddr(host); host == "localhost" || err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: the lab listens on loopback addresses only", addr)
}
