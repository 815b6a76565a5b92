package demo

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"
)

// Exit codes of `relayshift demo`.
const (
	// ExitOK: both stories ended as expected.
	ExitOK = 0
	// ExitUsage: a bad flag, or the lab could not start (no template...).
	ExitUsage = 1
	// ExitUnexpected: a story did not end as expected; the problems are
	// named on stderr and under the summary.
	ExitUnexpected = 2
	// ExitInterrupted: interrupted (Ctrl-C) or out of time (--timeout).
	ExitInterrupted = 3
)

// Config is what the demo runs with. DefaultConfig gives the values `make
// demo` uses.
type Config struct {
	// Template is the SAM template the lab reads its alarms, rule, state
	// machine and functions from.
	Template string
	// TimeScale multiplies every AWS-side duration (bakes, alarm periods):
	// 0.05 makes a minute last 3 s.
	TimeScale float64
	// Rate is the production load, in chat completions per second; one in
	// StreamEvery is streamed.
	Rate        float64
	StreamEvery int
	// ErrorRate is the share of v3's production chat completions that fail
	// with a 500 (the test route's are exempt).
	ErrorRate float64
	// Timeout bounds the whole demo.
	Timeout time.Duration
	// Verbose sends the lab's log and the functions' logs to stderr.
	Verbose bool
}

// DefaultConfig returns the defaults: AWS time 20 times faster, 50
// requests a second, a quarter of v3's production requests failing.
func DefaultConfig() Config {
	return Config{Template: "template.yaml", TimeScale: 0.05, Rate: 50, StreamEvery: 5, ErrorRate: 0.25, Timeout: 3 * time.Minute}
}

// Limits of the flags.
const (
	// minTimeScale keeps the alarm evaluation interval (a minute times the
	// scale) at 500 ms or more, so that the timeline's 200 ms polling
	// sees every alarm transition.
	minTimeScale = 1.0 / 120
	minRate      = 10
	maxRate      = 500
)

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Template == "" {
		errs = append(errs, errors.New("--template: a SAM template is required"))
	}
	if math.IsNaN(c.TimeScale) || c.TimeScale < minTimeScale || c.TimeScale > 1 {
		errs = append(errs, fmt.Errorf("--time-scale %v: want %.4f (a minute lasts 0.5 s) to 1 (real time)", c.TimeScale, minTimeScale))
	}
	if math.IsNaN(c.Rate) || c.Rate < minRate || c.Rate > maxRate {
		errs = append(errs, fmt.Errorf("--rate %v: want %d to %d requests per second", c.Rate, minRate, maxRate))
	}
	if c.StreamEvery < 0 {
		errs = append(errs, fmt.Errorf("stream share 1/%d: want 0 (none) or more", c.StreamEvery))
	}
	if math.IsNaN(c.ErrorRate) || c.ErrorRate <= 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("--error-rate %v: want more than 0, up to 1", c.ErrorRate))
	}
	if c.Timeout <= 0 || c.Timeout > 30*time.Minute {
		errs = append(errs, fmt.Errorf("--timeout %s: want more than 0, up to 30m", c.Timeout))
	}
	return errors.Join(errs...)
}

// Usage documents `relayshift demo`.
const Usage = `usage: relayshift demo [flags]

Tells relayshift's story on the local lab, on loopback, with real traffic:
nothing but this binary and template.yaml is needed (no AWS account, no
Docker), and nothing is left running afterwards.

The lab starts with relaysim blue on v1 under a steady load of chat
completions (one in five streamed) on the production listener. Then:

  1. v2, a healthy release, goes onto green and is promoted by the
     Canary10Percent5Minutes strategy (10% for 5 minutes, then 100%,
     watched 2 more minutes);
  2. v3 goes onto blue with the same strategy. It fails a share of its
     production requests but answers the test route perfectly, so it
     passes its warm-up; once it takes production traffic, the template's
     5xx-rate alarm (two 1-minute periods) fires before the 5-minute bake
     ends, and the EventBridge rule brings the rollback function, which
     stops the execution and puts all traffic back on v2.

The timeline shows each state entered, the weights after each shift, the
requests, failures and p99 of each colour per alarm period, the alarm
transitions, the events the rollback function received and which path
rolled v3 back (the alarm event or the canary's evaluation), read from the
execution and the rollback function's output. Each story is verified at
its end through the ELBv2 API and through the colour header of real
requests. A summary table closes it.
`

// UsageMore documents the exit codes.
const UsageMore = `Exit codes: 0 both stories ended as expected (v2 promoted; v3 rolled back,
all traffic on v2), 1 usage error or the lab could not start, 2 a story did
not end as expected (named), 3 interrupted or out of time.
`

// BindFlags defines the demo's flags on fs, with def's values as defaults,
// and returns the function that reads them into a Config (Run validates
// it).
func BindFlags(fs *flag.FlagSet, def Config) func() Config {
	c := def
	fs.StringVar(&c.Template, "template", def.Template, "SAM template the lab reads its alarms, rollback rule, state machine and functions from")
	fs.Float64Var(&c.TimeScale, "time-scale", def.TimeScale, "factor applied to AWS-side durations (bakes, alarm periods); 0.05: a minute lasts 3s")
	fs.Float64Var(&c.Rate, "rate", def.Rate, fmt.Sprintf("production load in chat completions per second (%d-%d), one in %d streamed", minRate, maxRate, def.StreamEvery))
	fs.Float64Var(&c.ErrorRate, "error-rate", def.ErrorRate, "share of v3's production requests that fail with a 500 (the template's alarm fires above 5% of a colour's requests)")
	fs.DurationVar(&c.Timeout, "timeout", def.Timeout, "give up (exit 3) after this long")
	fs.BoolVar(&c.Verbose, "verbose", def.Verbose, "also print the lab's log and the functions' JSON logs on stderr")
	return func() Config { return c }
}
