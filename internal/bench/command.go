package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// Usage documents `relayshift bench`.
const Usage = `usage: relayshift bench [flags]

Measures relayshift against the local lab, in one run, with relaysim
targets under a constant, bounded load on loopback, and prints one table:
failed requests during a bad release (relayshift's canary against an
all-at-once controller with no metric gate), the time from fault onset to
100% on stable through the alarm path, the rollback function's latency,
failed requests across weight changes between healthy colours, the lab
proxy's throughput against relaysim direct, the pipeline's overhead, an
AWS cost estimate per deployment, and each bootstrap's size and init time
under aws-lambda-rie.

Run it from the repository root after make build and make tools;
make bench does all three. It takes about three minutes, builds the
functions for this machine to time them under aws-lambda-rie, and leaves
no process behind. The table says what each figure is computed over (its
n): most are medians over -runs repeated runs, the rollback function's
latency is p50/p99 over -events alarm events, the weight changes are one
run's counts. Nothing is asserted.
`

// Flags are the command-line flags of `relayshift bench`.
type Flags struct {
	cfg Config
}

// BindFlags defines the bench's flags on fs, with DefaultConfig's values.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{cfg: DefaultConfig()}
	c := &f.cfg
	fs.StringVar(&c.Template, "template", c.Template, "SAM template; its directory is the repository root")
	fs.StringVar(&c.BinDir, "bin", c.BinDir, "directory of the linux/arm64 bootstraps that make build writes (<bin>/<name>/bootstrap)")
	fs.StringVar(&c.RIE, "rie", "", "aws-lambda-rie (default: .tools/bin/aws-lambda-rie, else PATH)")
	fs.Float64Var(&c.TimeScale, "time-scale", c.TimeScale, "the lab's factor on AWS-side durations (1/60: a 60 s alarm period lasts 1 s)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "production load, requests per second")
	fs.IntVar(&c.Runs, "runs", c.Runs, "repetitions of each bad release, healthy deployment and throughput trial")
	fs.IntVar(&c.Events, "events", c.Events, "alarm events the rollback function's latency is measured over")
	fs.IntVar(&c.WeightChanges, "weight-changes", c.WeightChanges, "weight changes between healthy colours")
	fs.IntVar(&c.ColdStarts, "cold-starts", c.ColdStarts, "cold starts of each bootstrap under aws-lambda-rie")
	fs.StringVar(&c.Strategy, "strategy", c.Strategy, "relayshift's strategy for the bad release and the healthy deployments")
	return f
}

// Config returns the configuration the flags select.
func (f *Flags) Config() (Config, error) { return f.cfg, f.cfg.Validate() }

// Main runs the bench: progress to stderr, the table to stdout. It stops,
// leaving nothing running, when ctx ends (cmd/relayshift ends it on
// SIGINT/SIGTERM), and returns the exit code: 0 when every figure was
// measured, 3 otherwise.
func Main(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	cfg.Progress = stderr
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "relayshift bench: %v\n", err)
		return 3
	}
	if err := rep.Render(stdout); err != nil {
		fmt.Fprintf(stderr, "relayshift bench: %v\n", err)
		return 3
	}
	return 0
}
