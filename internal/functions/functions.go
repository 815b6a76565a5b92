package functions

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/apikey"
	"github.com/relayshift/relayshift/internal/cwmetrics"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// Handler is what lambda.Start runs: aws-lambda-go's lambda.Handler.
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Builder builds one function's handler. Each function has its own, so a
// bootstrap links only the SDK clients its function uses.
type Builder func(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error)

// Function describes one Lambda function of the application.
type Function struct {
	// Name is the folder under functions/.
	Name string
	// LogicalID is the function's resource in template.yaml.
	LogicalID string
	// Build builds its handler.
	Build Builder
	// IAMActions are the AWS actions its code can call: the template's
	// policy must grant exactly these, and the emulator tier checks every
	// recorded call is among them.
	IAMActions []string
}

// All lists every function, in pipeline order.
func All() []Function {
	return []Function{
		{Name: "preflight", LogicalID: "PreflightFunction", Build: Preflight,
			// Tags (resume), Tag with tags to set (the record's mirror).
			IAMActions: actions(alb.ReadActions(), alb.TagReadActions(), alb.TagAddActions(), alb.HealthActions(), stepfn.ReadActions())},
		{Name: "release", LogicalID: "ReleaseFunction", Build: Release,
			IAMActions: actions(ecsrelease.ReadActions(), ecsrelease.WriteActions())},
		{Name: "healthcheck", LogicalID: "HealthCheckFunction", Build: HealthCheck,
			IAMActions: actions(alb.HealthActions(), apikey.ReadActions())},
		{Name: "warmup", LogicalID: "WarmUpFunction", Build: WarmUp,
			IAMActions: actions(apikey.ReadActions())},
		{Name: "shift", LogicalID: "ShiftFunction", Build: Shift,
			// Tag removal only: Restore, when the race guard undoes a write.
			IAMActions: actions(alb.ReadActions(), alb.WriteActions(), alb.TagRemoveActions(), alb.HealthActions(), stepfn.ReadActions())},
		{Name: "evaluate", LogicalID: "EvaluateFunction", Build: Evaluate,
			IAMActions: actions(cwmetrics.Actions())},
		{Name: "finalize", LogicalID: "FinalizeFunction", Build: Finalize,
			// Tag sets the new stable colour and removes the deployment's tags.
			IAMActions: actions(alb.ReadActions(), alb.TagAddActions(), alb.TagRemoveActions())},
		{Name: "rollback", LogicalID: "RollbackFunction", Build: Rollback,
			// Tags (FindRunning, FindUnrestored), tag removal (Restore).
			IAMActions: actions(alb.ReadActions(), alb.WriteActions(), alb.TagReadActions(), alb.TagRemoveActions(), alb.HealthActions(),
				stepfn.ReadActions(), stepfn.StopActions(), stepfn.HistoryActions())},
	}
}

func actions(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Lookup returns the function called name.
func Lookup(name string) (Function, bool) {
	for _, f := range All() {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Preflight builds the preflight function.
func Preflight(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvListenerARN, EnvBlueTG, EnvGreenTG); err != nil {
		return nil, err
	}
	r := router(cfg, awsCfg)
	p := &deploy.Preflight{
		Router: r, Executions: executions(awsCfg), Targets: r,
		Service: cfg.Service, DefaultStrategy: cfg.DefaultStrategy,
		ImageRequired: cfg.ReleaseMode == ReleaseECS, Now: time.Now,
	}
	return deploy.NewEdge("preflight", log, p.Handle), nil
}

// Shift builds the shift function.
func Shift(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvListenerARN, EnvBlueTG, EnvGreenTG); err != nil {
		return nil, err
	}
	r := router(cfg, awsCfg)
	s := &deploy.Shift{Router: r, Targets: r, Executions: executions(awsCfg), Now: time.Now}
	return deploy.NewEdge("shift", log, s.Handle), nil
}

// Finalize builds the finalize function.
func Finalize(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvListenerARN, EnvBlueTG, EnvGreenTG); err != nil {
		return nil, err
	}
	f := &deploy.Finalize{Router: router(cfg, awsCfg), Now: time.Now}
	return deploy.NewEdge("finalize", log, f.Handle), nil
}

// Evaluate builds the evaluate function.
func Evaluate(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvListenerARN, EnvBlueTG, EnvGreenTG, EnvAlarmPrefix); err != nil {
		return nil, err
	}
	src := cwmetrics.New(cloudwatch.NewFromConfig(awsCfg), cwmetrics.Target{
		LoadBalancer: cfg.LoadBalancerDimension(),
		Blue:         TargetGroupDimension(cfg.BlueTargetGroupARN),
		Green:        TargetGroupDimension(cfg.GreenTargetGroupARN),
		AlarmPrefix:  cfg.AlarmPrefix,
	})
	e := &deploy.Evaluate{Metrics: src, Policy: cfg.Policy, Now: time.Now}
	return deploy.NewEdge("evaluate", log, e.Handle), nil
}

// Rollback builds the rollback function.
func Rollback(cfg Config, awsCfg aws.Config, log *slog.Logger) (Handler, error) {
	if err := cfg.require(EnvListenerARN, EnvBlueTG, EnvGreenTG, EnvStateMachineARN, EnvAlarmPrefix); err != nil {
		return nil, err
	}
	r := router(cfg, awsCfg)
	h := &rollback.Handler{
		Router: r, Targets: r, Executions: executions(awsCfg),
		StateMachineARN: cfg.StateMachineARN, AlarmPrefix: cfg.AlarmPrefix, Now: time.Now,
	}
	return deploy.NewEdge("rollback", log, h.Handle), nil
}

// FromEnv loads the configuration and the AWS configuration (which honours
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>) and builds a handler with
// build. It is all a function's main does before lambda.Start.
func FromEnv(ctx context.Context, lookup func(string) (string, bool), log *slog.Logger, build Builder) (Handler, error) {
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return build(cfg, awsCfg, log)
}

func router(cfg Config, awsCfg aws.Config) *alb.Router {
	return alb.New(elbv2.NewFromConfig(awsCfg), alb.Listener{
		ListenerARN: cfg.ListenerARN, RuleARN: cfg.RuleARN,
		Blue: cfg.BlueTargetGroupARN, Green: cfg.GreenTargetGroupARN,
	})
}

func executions(awsCfg aws.Config) *stepfn.Executions {
	return stepfn.New(sfn.NewFromConfig(awsCfg))
}

// NewLogger returns the JSON logger every function uses. It redacts the
// values of attributes whose key names a credential (authorization,
// api_key, secret, token, password, or a key ending in _secret, _token...),
// at any depth.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact}))
}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, s := range []string{"authorization", "api_key", "apikey", "x-api-key", "secret", "token", "password"} {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasSuffix(k, "-"+s) {
			return slog.String(a.Key, "[REDACTED]")
		}
	}
	return a
}
