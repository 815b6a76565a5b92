package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/stackoutputs"
)

// setting is one configuration value the CLI resolves from a flag, the
// environment (the same RELAYSHIFT_* names as the functions) or the SAM
// stack's outputs, in that order of precedence.
type setting struct {
	flag, env, output, doc string
}

// The settings, by flag name.
const (
	keyStateMachine = "state-machine-arn"
	keyListener     = "listener-arn"
	keyRule         = "rule-arn"
	keyBlue         = "blue-target-group-arn"
	keyGreen        = "green-target-group-arn"
	keyService      = "service"
)

// EnvStack names the SAM stack whose outputs configure the CLI.
const EnvStack = "RELAYSHIFT_STACK"

func settings() []setting {
	return []setting{
		{keyStateMachine, functions.EnvStateMachineARN, stackoutputs.StateMachineArn, "the deployment state machine"},
		{keyListener, functions.EnvListenerARN, stackoutputs.ListenerArn, "the production ALB listener"},
		{keyRule, functions.EnvRuleARN, stackoutputs.RuleArn, "the listener rule carrying the split, instead of the default action"},
		{keyBlue, functions.EnvBlueTG, stackoutputs.BlueTargetGroupArn, "the blue target group"},
		{keyGreen, functions.EnvGreenTG, stackoutputs.GreenTargetGroupArn, "the green target group"},
		{keyService, functions.EnvService, stackoutputs.Service, `the relay service's name, which starts every deployment id (default "relay"); must match the functions'`},
	}
}

// configFlags are the flags every AWS-facing command shares.
type configFlags struct {
	fs              *flag.FlagSet
	stack           *string
	region, profile *string
	values          map[string]*string
}

// addConfigFlags registers --stack, --region, --profile and one flag per
// setting on fs.
func addConfigFlags(fs *flag.FlagSet) *configFlags {
	c := &configFlags{fs: fs, values: map[string]*string{}}
	c.stack = fs.String("stack", "", "read unset settings from the outputs of this SAM stack (env "+EnvStack+")")
	c.region = fs.String("region", "", "AWS region (default: AWS_REGION, the profile's, or the region of the state machine ARN)")
	c.profile = fs.String("profile", "", "AWS shared config profile (default: AWS_PROFILE)")
	for _, s := range settings() {
		c.values[s.flag] = fs.String(s.flag, "", s.doc+" (env "+s.env+", stack output "+s.output+")")
	}
	return c
}

// target is the resolved configuration of a command.
type target struct {
	StateMachineARN, ListenerARN, RuleARN string
	BlueTG, GreenTG, Service              string
	AWS                                   aws.Config
	// source says where each setting came from, by flag name.
	source map[string]string
}

// configError is a configuration problem: the command exits with
// ExitUsage.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// resolve reads every setting (flag, then environment, then stack output),
// validates them as the functions do, checks that the settings in need are
// present, and loads the AWS configuration. The stack is read only when a
// setting in need is missing otherwise.
func (c *configFlags) resolve(ctx context.Context, env *Env, need ...string) (target, error) {
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	vals, source := map[string]string{}, map[string]string{}
	for _, s := range settings() {
		switch v := strings.TrimSpace(*c.values[s.flag]); {
		case set[s.flag]:
			vals[s.flag], source[s.flag] = v, "flag --"+s.flag
		case env.getenv(s.env) != "":
			vals[s.flag], source[s.flag] = env.getenv(s.env), "environment "+s.env
		}
	}
	stack := strings.TrimSpace(*c.stack)
	if stack == "" {
		stack = env.getenv(EnvStack)
	}

	region := strings.TrimSpace(*c.region)
	cfg, err := env.AWSConfig(ctx, region, strings.TrimSpace(*c.profile))
	if err != nil {
		return target{}, &configError{fmt.Errorf("load AWS configuration: %w", err)}
	}
	missing := func() []string {
		var m []string
		for _, k := range need {
			if vals[k] == "" {
				m = append(m, k)
			}
		}
		return m
	}
	if len(missing()) > 0 && stack != "" {
		if cfg.Region == "" {
			return target{}, &configError{fmt.Errorf("reading stack %s needs an AWS region: set --region or AWS_REGION", stack)}
		}
		outs, err := stackoutputs.Read(ctx, cloudformation.NewFromConfig(cfg), stack)
		if deploy.CodeOf(err) == deploy.InvalidInput {
			return target{}, &configError{fmt.Errorf("--stack %s: %w", stack, err)}
		}
		if err != nil {
			return target{}, fmt.Errorf("read the outputs of stack %s: %w", stack, err)
		}
		for _, s := range settings() {
			if vals[s.flag] == "" && outs[s.output] != "" {
				vals[s.flag], source[s.flag] = outs[s.output], "stack "+stack+" output "+s.output
			}
		}
	}

	var errs []error
	for _, k := range missing() {
		s := settingOf(k)
		how := fmt.Sprintf("--%s or %s", s.flag, s.env)
		if s.output != "" {
			how += ", or --stack NAME (output " + s.output + ")"
		}
		errs = append(errs, fmt.Errorf("%s is not set: use %s", s.doc, how))
	}
	envOf := map[string]string{}
	for _, s := range settings() {
		envOf[s.env] = vals[s.flag]
	}
	fc, err := functions.LoadConfig(func(k string) (string, bool) { v, ok := envOf[k]; return v, ok })
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		var b strings.Builder
		b.WriteString(errors.Join(errs...).Error())
		if len(source) > 0 {
			b.WriteString("\nsettings read:")
			for _, s := range settings() {
				if src, ok := source[s.flag]; ok {
					fmt.Fprintf(&b, "\n  %s = %q (%s)", s.env, vals[s.flag], src)
				}
			}
		}
		return target{}, &configError{errors.New(b.String())}
	}
	if cfg.Region == "" {
		cfg.Region = regionOf(fc.StateMachineARN, fc.ListenerARN)
	}
	if cfg.Region == "" {
		return target{}, &configError{errors.New("no AWS region: set --region or AWS_REGION")}
	}
	return target{
		StateMachineARN: fc.StateMachineARN, ListenerARN: fc.ListenerARN, RuleARN: fc.RuleARN,
		BlueTG: fc.BlueTargetGroupARN, GreenTG: fc.GreenTargetGroupARN, Service: fc.Service,
		AWS: cfg, source: source,
	}, nil
}

func settingOf(k string) setting {
	for _, s := range settings() {
		if s.flag == k {
			return s
		}
	}
	return setting{flag: k}
}

// regionOf returns the region field of the first ARN that has one.
func regionOf(arns ...string) string {
	for _, a := range arns {
		if parts := strings.SplitN(a, ":", 5); len(parts) == 5 && parts[3] != "" {
			return parts[3]
		}
	}
	return ""
}

// consoleURL is the Step Functions console page of an execution.
// NOTE: the console's execution page is
// https://<region>.console.aws.amazon.com/states/home?region=<region>#/v2/executions/details/<execution ARN>;
// the China and GovCloud partitions have their own console hosts. The
// console's URL scheme is not an API and may change (⚠ not documented as
// stable).
func consoleURL(executionARN string) string {
	parts := strings.SplitN(executionARN, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	partition, region := parts[1], parts[3]
	host := region + ".console.aws.amazon.com"
	switch partition {
	case "aws-cn":
		host = "console.amazonaws.cn"
	case "aws-us-gov":
		host = "console.amazonaws-us-gov.com"
	}
	return "https://" + host + "/states/home?region=" + region + "#/v2/executions/details/" + executionARN
}

// newFlagSet returns a FlagSet for a command whose --help prints usage
// (the synopsis and description), the flags, and then more (environment,
// exit codes).
func newFlagSet(env *Env, name, usage, more string) *flag.FlagSet {
	fs := flag.NewFlagSet("relayshift "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, strings.TrimLeft(usage, "\n"))
		fmt.Fprint(w, "\nFlags:\n")
		fs.PrintDefaults()
		if more != "" {
			fmt.Fprint(w, "\n"+strings.TrimLeft(more, "\n"))
		}
	}
	return fs
}

// parseFlags parses args; on --help it prints the usage to stdout and
// returns ExitOK, on a bad flag ExitUsage; ok is true when the command
// should run.
func parseFlags(env *Env, fs *flag.FlagSet, args []string) (code int, ok bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return ExitOK, false
		}
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q (see --help)\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return 0, true
}

// configHelp documents the shared configuration for a command's --help.
func configHelp(w io.Writer) {
	fmt.Fprint(w, "Configuration (a flag wins over the environment, which wins over the stack's outputs):\n")
	fmt.Fprintf(w, "  %-34s %s\n", EnvStack, "SAM stack to read the settings below from (--stack)")
	for _, s := range settings() {
		fmt.Fprintf(w, "  %-34s %s (--%s; stack output %s)\n", s.env, s.doc, s.flag, s.output)
	}
	fmt.Fprintf(w, "  %-34s %s\n", "AWS_REGION, AWS_PROFILE", "the usual AWS SDK settings (--region, --profile)")
	fmt.Fprintf(w, "  %-34s %s\n", "AWS_ENDPOINT_URL[_<SERVICE>]", "send AWS calls elsewhere (the local lab, moto, LocalStack)")
}

func helpText(parts ...func(io.Writer)) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n")
		}
		p(&b)
	}
	return b.String()
}

func text(s string) func(io.Writer) {
	return func(w io.Writer) { fmt.Fprint(w, strings.TrimLeft(s, "\n")) }
}

// durationEnv reads a duration from the environment variable k, or def.
func durationEnv(env *Env, k string, def time.Duration) (time.Duration, error) {
	v := env.getenv(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 2s", k, v)
	}
	return d, nil
}

// failf prints a command's error and returns code.
func failf(env *Env, cmd string, code int, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, "relayshift %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return code
}

// codeOf maps a command's error to its exit code: ExitUsage for
// configuration errors, ExitFailed for the rest.
func codeOf(err error) int {
	var ce *configError
	if errors.As(err, &ce) {
		return ExitUsage
	}
	return ExitFailed
}
