package functions

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/relayshift/relayshift/internal/deploy"
)

// Config is the functions' configuration, read once at cold start from the
// RELAYSHIFT_* environment (set by template.yaml's parameters).
type Config struct {
	// Service names the relay; it starts every deployment id.
	// RELAYSHIFT_SERVICE, default "relay".
	Service string
	// ListenerARN is the production listener. RELAYSHIFT_LISTENER_ARN.
	ListenerARN string
	// RuleARN, if set, is the listener rule carrying the split instead of the
	// default action. RELAYSHIFT_RULE_ARN.
	RuleARN string
	// BlueTargetGroupARN and GreenTargetGroupARN.
	// RELAYSHIFT_BLUE_TARGET_GROUP_ARN, RELAYSHIFT_GREEN_TARGET_GROUP_ARN.
	BlueTargetGroupARN, GreenTargetGroupARN string
	// DefaultStrategy applies when a request names none: a preset name or a
	// custom JSON object. RELAYSHIFT_DEFAULT_STRATEGY, default
	// Canary10Percent5Minutes.
	DefaultStrategy deploy.Strategy
	// ReleaseMode is "ecs" or "external". RELAYSHIFT_RELEASE_MODE, default
	// external.
	ReleaseMode string
	// StateMachineARN is the deployment state machine.
	// RELAYSHIFT_STATE_MACHINE_ARN (needed by rollback; the pipeline
	// functions derive it from their execution).
	StateMachineARN string
	// AlarmPrefix starts the name of every pipeline alarm: Evaluate rolls
	// back when one is in ALARM, the rollback function acts only on them.
	// RELAYSHIFT_ALARM_PREFIX (needed by evaluate and rollback).
	AlarmPrefix string
	// Policy holds Evaluate's thresholds: RELAYSHIFT_MAX_ERROR_RATE,
	// RELAYSHIFT_ERROR_RATE_MARGIN, RELAYSHIFT_MAX_P99_MS,
	// RELAYSHIFT_P99_FACTOR, RELAYSHIFT_MIN_REQUESTS,
	// RELAYSHIFT_MAX_HOLD_SECONDS, RELAYSHIFT_ON_NO_DATA; defaults from
	// deploy.DefaultPolicy.
	Policy deploy.Policy
	// ECS names the cluster and the colours' services (release mode ecs;
	// optional in mode external, where Release then verifies the
	// candidate). RELAYSHIFT_ECS_* (config_candidate.go).
	ECS ECSConfig
	// Candidate configures the health check and warm-up through the test
	// route. RELAYSHIFT_TEST_*, RELAYSHIFT_WARMUP_*... (config_candidate.go).
	Candidate CandidateConfig
}

// Release modes.
const (
	ReleaseECS      = "ecs"
	ReleaseExternal = "external"
)

// Environment variable names.
const (
	EnvService         = "RELAYSHIFT_SERVICE"
	EnvListenerARN     = "RELAYSHIFT_LISTENER_ARN"
	EnvRuleARN         = "RELAYSHIFT_RULE_ARN"
	EnvBlueTG          = "RELAYSHIFT_BLUE_TARGET_GROUP_ARN"
	EnvGreenTG         = "RELAYSHIFT_GREEN_TARGET_GROUP_ARN"
	EnvDefaultStrategy = "RELAYSHIFT_DEFAULT_STRATEGY"
	EnvReleaseMode     = "RELAYSHIFT_RELEASE_MODE"
	EnvStateMachineARN = "RELAYSHIFT_STATE_MACHINE_ARN"
	EnvAlarmPrefix     = "RELAYSHIFT_ALARM_PREFIX"
	EnvMaxErrorRate    = "RELAYSHIFT_MAX_ERROR_RATE"
	EnvErrorRateMargin = "RELAYSHIFT_ERROR_RATE_MARGIN"
	EnvMaxP99Ms        = "RELAYSHIFT_MAX_P99_MS"
	EnvP99Factor       = "RELAYSHIFT_P99_FACTOR"
	EnvMinRequests     = "RELAYSHIFT_MIN_REQUESTS"
	EnvMaxHoldSeconds  = "RELAYSHIFT_MAX_HOLD_SECONDS"
	EnvOnNoData        = "RELAYSHIFT_ON_NO_DATA"
)

var (
	listenerARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/([^/]+/[A-Za-z0-9]+)/([A-Za-z0-9]+)$`)
	ruleARNRE         = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule/app/([^/]+/[A-Za-z0-9]+/[A-Za-z0-9]+)/[A-Za-z0-9]+$`)
	targetGroupARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[^/]+/[A-Za-z0-9]+$`)
	stateMachineARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]{1,80}$`)
)

// LoadConfig reads and validates the configuration. lookup is os.LookupEnv
// in production. Every problem is reported, not only the first.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	c := Config{
		Service:             get(EnvService),
		ListenerARN:         get(EnvListenerARN),
		RuleARN:             get(EnvRuleARN),
		BlueTargetGroupARN:  get(EnvBlueTG),
		GreenTargetGroupARN: get(EnvGreenTG),
		ReleaseMode:         get(EnvReleaseMode),
		StateMachineARN:     get(EnvStateMachineARN),
		AlarmPrefix:         get(EnvAlarmPrefix),
		Policy:              deploy.DefaultPolicy(),
	}
	if c.Service == "" {
		c.Service = "relay"
	}
	if c.ReleaseMode == "" {
		c.ReleaseMode = ReleaseExternal
	}
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", k, fmt.Sprintf(format, args...)))
	}
	if err := deploy.ValidateServiceName(c.Service); err != nil {
		bad(EnvService, "%v", err)
	}
	if c.ReleaseMode != ReleaseECS && c.ReleaseMode != ReleaseExternal {
		bad(EnvReleaseMode, "%q: want ecs or external", c.ReleaseMode)
	}
	strategy := get(EnvDefaultStrategy)
	if strategy == "" {
		strategy = deploy.Canary10Percent5Minutes
	}
	if !strings.HasPrefix(strategy, "{") {
		strategy = `"` + strategy + `"`
	}
	if err := c.DefaultStrategy.UnmarshalJSON([]byte(strategy)); err != nil {
		bad(EnvDefaultStrategy, "%v", err)
	}
	check := func(k, v string, re *regexp.Regexp, what string) {
		if v != "" && !re.MatchString(v) {
			bad(k, "%q is not %s", v, what)
		}
	}
	check(EnvListenerARN, c.ListenerARN, listenerARNRE, "an Application Load Balancer listener ARN")
	check(EnvRuleARN, c.RuleARN, ruleARNRE, "an Application Load Balancer listener rule ARN")
	check(EnvBlueTG, c.BlueTargetGroupARN, targetGroupARNRE, "a target group ARN")
	check(EnvGreenTG, c.GreenTargetGroupARN, targetGroupARNRE, "a target group ARN")
	check(EnvStateMachineARN, c.StateMachineARN, stateMachineARNRE, "a state machine ARN")
	if c.RuleARN != "" && c.ListenerARN != "" {
		l, r := listenerARNRE.FindStringSubmatch(c.ListenerARN), ruleARNRE.FindStringSubmatch(c.RuleARN)
		if l != nil && r != nil && l[1]+"/"+l[2] != r[1] {
			bad(EnvRuleARN, "rule %s does not belong to listener %s", c.RuleARN, c.ListenerARN)
		}
	}
	if c.BlueTargetGroupARN != "" && c.BlueTargetGroupARN == c.GreenTargetGroupARN {
		bad(EnvGreenTG, "blue and green must be different target groups")
	}
	// NOTE: alarm names are 1-255 characters (PutMetricAlarm reference).
	if len(c.AlarmPrefix) > 255 {
		bad(EnvAlarmPrefix, "%d characters: alarm names have at most 255", len(c.AlarmPrefix))
	}
	loadPolicy(get, &c.Policy, bad)
	c.loadCandidate(get, bad)
	if len(errs) > 0 {
		return Config{}, deploy.Errorf(deploy.InvalidConfig, "%w", errors.Join(errs...))
	}
	return c, nil
}

// require reports the variables among keys that are empty.
func (c Config) require(keys ...string) error {
	vals := map[string]string{
		EnvListenerARN: c.ListenerARN, EnvBlueTG: c.BlueTargetGroupARN,
		EnvGreenTG: c.GreenTargetGroupARN, EnvStateMachineARN: c.StateMachineARN,
		EnvAlarmPrefix: c.AlarmPrefix,
	}
	var missing []string
	for _, k := range keys {
		if vals[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return deploy.Errorf(deploy.InvalidConfig, "missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// LoadBalancerDimension returns the CloudWatch LoadBalancer dimension of
// the listener's load balancer: "app/<name>/<id>".
// NOTE: AWS/ApplicationELB dimensions are the part of the load balancer ARN
// after "loadbalancer/" (ALB CloudWatch metrics documentation).
func (c Config) LoadBalancerDimension() string {
	m := listenerARNRE.FindStringSubmatch(c.ListenerARN)
	if m == nil {
		return ""
	}
	return "app/" + m[1]
}

// loadPolicy reads Evaluate's thresholds over the defaults in p, reporting
// every bad variable through bad.
func loadPolicy(get func(string) string, p *deploy.Policy, bad func(k, format string, args ...any)) {
	float := func(k string, dst *float64) {
		if v := get(k); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				bad(k, "%q is not a number", v)
				return
			}
			*dst = f
		}
	}
	integer := func(k string, dst *int) {
		if v := get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad(k, "%q is not a whole number", v)
				return
			}
			*dst = n
		}
	}
	float(EnvMaxErrorRate, &p.MaxErrorRatePercent)
	float(EnvErrorRateMargin, &p.ErrorRateMarginPoints)
	float(EnvMaxP99Ms, &p.MaxP99Ms)
	float(EnvP99Factor, &p.P99Factor)
	integer(EnvMinRequests, &p.MinRequests)
	integer(EnvMaxHoldSeconds, &p.MaxHoldSeconds)
	if v := get(EnvOnNoData); v != "" {
		p.OnNoData = v
	}
	// Each variable is checked on its own, over the defaults, so that
	// every bad one is named.
	for _, one := range []struct {
		k   string
		set func(*deploy.Policy)
	}{
		{EnvMaxErrorRate, func(q *deploy.Policy) { q.MaxErrorRatePercent = p.MaxErrorRatePercent }},
		{EnvErrorRateMargin, func(q *deploy.Policy) { q.ErrorRateMarginPoints = p.ErrorRateMarginPoints }},
		{EnvMaxP99Ms, func(q *deploy.Policy) { q.MaxP99Ms = p.MaxP99Ms }},
		{EnvP99Factor, func(q *deploy.Policy) { q.P99Factor = p.P99Factor }},
		{EnvMinRequests, func(q *deploy.Policy) { q.MinRequests = p.MinRequests }},
		{EnvMaxHoldSeconds, func(q *deploy.Policy) { q.MaxHoldSeconds = p.MaxHoldSeconds }},
		{EnvOnNoData, func(q *deploy.Policy) { q.OnNoData = p.OnNoData }},
	} {
		q := deploy.DefaultPolicy()
		one.set(&q)
		if err := q.Validate(); err != nil {
			bad(one.k, "%v", err)
		}
	}
}

// TargetGroupDimension returns the CloudWatch TargetGroup dimension of a
// target group ARN: "targetgroup/<name>/<id>".
// NOTE: the dimension is the ARN's resource part (ALB CloudWatch metrics
// documentation, AWS-FACTS.md).
func TargetGroupDimension(arn string) string {
	if !targetGroupARNRE.MatchString(arn) {
		return ""
	}
	_, res, _ := strings.Cut(arn, ":targetgroup/")
	return "targetgroup/" + res
}
