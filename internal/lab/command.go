package lab

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
)

// Usage documents `relayshift lab`.
const Usage = `usage: relayshift lab [flags]

Runs the whole SAM application on this machine, on loopback: the ALB
(production and test listeners in front of the blue and green targets),
one AWS endpoint serving ELBv2, CloudWatch, Step Functions and Secrets
Manager, the template's alarms and EventBridge rules, and the Lambda
functions. It prints the endpoints and the environment to export, then
runs until interrupted (Ctrl-C), and stops everything it started.

The alarms, the rollback rule, the state machine and the functions'
environment come from the SAM template; nothing is written twice.
`

// Flags are the command-line flags of `relayshift lab`.
type Flags struct {
	configPath, template, endpoint, blue, green, fnEndpoint *string
	timeScale                                               *float64
	verbose                                                 *bool
}

// BindFlags defines the lab's flags on fs.
func BindFlags(fs *flag.FlagSet) *Flags {
	return &Flags{
		configPath: fs.String("config", "", "lab config (YAML); default: lab.yaml if it exists, else the built-in defaults"),
		template:   fs.String("template", "", "SAM template (overrides the config's; default template.yaml)"),
		endpoint:   fs.String("endpoint", "", "loopback address of the AWS endpoint (overrides the config; default 127.0.0.1:4566)"),
		timeScale:  fs.Float64("time-scale", 0, "factor applied to AWS-side durations (overrides the config; default 0.0166: a minute lasts a second)"),
		blue:       fs.String("blue", "", "comma-separated blue target URLs, instead of the config's relaysim instances"),
		green:      fs.String("green", "", "comma-separated green target URLs, instead of the config's relaysim instances"),
		fnEndpoint: fs.String("functions-endpoint", "", "run the functions through this Lambda invoke endpoint (sam local start-lambda) instead of in process"),
		verbose:    fs.Bool("verbose", false, "also print the functions' own JSON logs"),
	}
}

// Config returns the configuration the flags select: the config file (or
// the defaults), overridden by the flags.
func (f *Flags) Config() (Config, error) {
	cfg := DefaultConfig()
	path := *f.configPath
	if path == "" {
		if _, err := os.Stat("lab.yaml"); err == nil {
			path = "lab.yaml"
		}
	}
	if path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	if *f.template != "" {
		cfg.Template = *f.template
	}
	if *f.endpoint != "" {
		cfg.Endpoint = *f.endpoint
	}
	if *f.timeScale != 0 {
		cfg.TimeScale = *f.timeScale
	}
	if *f.blue != "" {
		cfg.Blue = ColourConfig{URLs: strings.Split(*f.blue, ",")}
	}
	if *f.green != "" {
		cfg.Green = ColourConfig{URLs: strings.Split(*f.green, ",")}
	}
	if *f.fnEndpoint != "" {
		cfg.Functions = FunctionsConfig{Mode: FunctionsEndpoint, Endpoint: *f.fnEndpoint}
	}
	return cfg, cfg.Validate()
}

// Verbose reports whether the functions' logs are wanted.
func (f *Flags) Verbose() bool { return *f.verbose }

// StopError reports a lab that started but did not stop cleanly.
type StopError struct{ Err error }

func (e *StopError) Error() string { return "stop: " + e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// Run starts the lab, prints the summary, runs until ctx ends (the caller
// cancels it on SIGINT/SIGTERM: cmd/relayshift does), and stops it. It
// returns the error that kept the lab from starting, a *StopError when it
// did not stop cleanly, or nil.
func Run(ctx context.Context, cfg Config, verbose bool, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var fnLog io.Writer = io.Discard
	if verbose {
		fnLog = stderr
	}
	l, err := Start(ctx, cfg, Options{Log: log, FunctionLog: fnLog})
	if err != nil {
		return err
	}
	l.PrintSummary(stdout)
	<-ctx.Done()
	fmt.Fprintln(stderr, "relayshift lab: stopping")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := l.Close(cctx); err != nil {
		return &StopError{Err: err}
	}
	fmt.Fprintln(stderr, "relayshift lab: stopped")
	return nil
}

// PrintSummary writes the endpoints and the environment to export.
func (l *Lab) PrintSummary(w io.Writer) {
	speed := 1 / l.cfg.TimeScale
	fmt.Fprintf(w, "relayshift lab: %s on loopback, AWS time %.0f× faster\n\n", l.Stack.StackName, speed)
	fmt.Fprintf(w, "  AWS endpoint   %s  (%s)\n", l.endpoint, strings.Join(l.router.Services(), ", "))
	weights := l.Production.Weights()
	fmt.Fprintf(w, "  production     %s  (%s)\n", l.Production.URL(), l.describeWeights(weights))
	fmt.Fprintf(w, "  test route     %s  (%s: blue or green)\n", l.Test.URL(), l.TestHeader())
	for _, tg := range []*loadbalancer.TargetGroup{l.Blue, l.Green} {
		var targets []string
		for _, h := range tg.Health() {
			targets = append(targets, fmt.Sprintf("http://%s:%d", h.ID, h.Port))
		}
		if len(targets) == 0 {
			targets = []string{"(none registered)"}
		}
		fmt.Fprintf(w, "  %-14s %s\n", tg.Colour()+" targets", strings.Join(targets, " "))
	}
	alarms, _ := l.Alarms.Describe(monitoring.AlarmFilter{})
	fmt.Fprintf(w, "  alarms         %d from %s\n", len(alarms), l.cfg.Template)
	for _, r := range l.Bus.Rules() {
		fmt.Fprintf(w, "  rule           %s -> %s\n", r.Name, r.Target.Function)
	}
	fmt.Fprintf(w, "  colour header  %s\n\n", l.LB.ColourHeader())
	fmt.Fprintln(w, "Point the functions and the CLI at the lab:")
	env := l.Env()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(w, "  export %s=%s\n", k, shellQuote(env[k]))
	}
	fmt.Fprintln(w, "\nCtrl-C stops the lab.")
}

func (l *Lab) describeWeights(w map[string]int) string {
	total := 0
	for _, v := range w {
		total += v
	}
	var parts []string
	for _, tg := range []struct{ colour, arn string }{{"blue", l.Blue.ARN()}, {"green", l.Green.ARN()}} {
		if v, ok := w[tg.arn]; ok && total > 0 {
			parts = append(parts, fmt.Sprintf("%s %d%%", tg.colour, v*100/total))
		}
	}
	return strings.Join(parts, ", ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
