package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/relayshift/relayshift/internal/cwmetrics"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// Config is what the bench runs and how much of it.
type Config struct {
	// Template is the SAM template (its directory is the module root: the
	// functions are built from there).
	Template string
	// BinDir holds the linux/arm64 bootstraps `make build` produces
	// (<BinDir>/<name>/bootstrap).
	BinDir string
	// RIE is aws-lambda-rie (default: .tools/bin's, else PATH's); Go is
	// the go command for the host builds.
	RIE, Go string
	// TimeScale is the lab's (1/60: a 60-second alarm period lasts 1 s).
	TimeScale float64
	// Rate is the constant production load, requests per second.
	Rate float64
	// Runs is how many times each bad release, healthy deployment and
	// throughput trial is repeated (their figures are medians over the
	// runs).
	Runs int
	// Events is the number of alarm events the rollback function's
	// latency is measured over.
	Events int
	// WeightChanges between healthy colours, WeightInterval apart.
	WeightChanges  int
	WeightInterval time.Duration
	// ColdStarts of each bootstrap under aws-lambda-rie, each followed by
	// WarmInvokes invocations.
	ColdStarts, WarmInvokes int
	// Strategy is relayshift's strategy (a preset name) for the bad
	// release and the healthy deployments.
	Strategy string
	// BaselineWait is how long the all-at-once controller waits before its
	// check; CheckRequests how many production requests the check samples.
	BaselineWait  time.Duration
	CheckRequests int
	// ThroughputWorkers and ThroughputDuration shape each throughput trial.
	ThroughputWorkers  int
	ThroughputDuration time.Duration
	// Progress receives one line per step (stderr).
	Progress io.Writer
}

// DefaultConfig is `relayshift bench` without flags: about three minutes
// on a 2-core machine.
func DefaultConfig() Config {
	return Config{
		Template: "template.yaml", BinDir: "bin", Go: "go",
		TimeScale: 1.0 / 60, Rate: 100, Runs: 5, Events: 100,
		WeightChanges: 120, WeightInterval: 50 * time.Millisecond,
		ColdStarts: 5, WarmInvokes: 5,
		Strategy:     "Canary10Percent5Minutes",
		BaselineWait: 2 * time.Second, CheckRequests: 20,
		ThroughputWorkers: 16, ThroughputDuration: 2 * time.Second,
		Progress: io.Discard,
	}
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TimeScale <= 0 || c.TimeScale > 1 {
		bad("time scale %v: want a factor in (0, 1]", c.TimeScale)
	}
	if c.Rate < 10 || c.Rate > 1000 {
		bad("rate %v: want 10 to 1000 requests per second", c.Rate)
	}
	if c.Runs < 1 || c.Runs > 20 {
		bad("runs %d: want 1 to 20", c.Runs)
	}
	if c.Events < 1 || c.Events > 500 {
		bad("events %d: want 1 to 500", c.Events)
	}
	if c.WeightChanges < 1 || c.WeightChanges > 2000 || c.WeightInterval <= 0 || c.WeightInterval > time.Second {
		bad("weight changes %d every %s: want 1 to 2000, at most 1 s apart", c.WeightChanges, c.WeightInterval)
	}
	if c.ColdStarts < 1 || c.ColdStarts > 50 || c.WarmInvokes < 1 || c.WarmInvokes > 100 {
		bad("cold starts %d × %d warm invocations: want 1-50 and 1-100", c.ColdStarts, c.WarmInvokes)
	}
	if c.BaselineWait <= 0 || c.BaselineWait > time.Minute || c.CheckRequests < 1 || c.CheckRequests > 1000 {
		bad("baseline: wait %s and %d check requests: want (0, 1m] and 1-1000", c.BaselineWait, c.CheckRequests)
	}
	if _, err := deploy.ParseStrategy(c.Strategy); err != nil {
		bad("strategy: %v", err)
	}
	if c.ThroughputWorkers < 1 || c.ThroughputWorkers > 64 || c.ThroughputDuration <= 0 || c.ThroughputDuration > 30*time.Second {
		bad("throughput: %d workers for %s: want 1-64 and (0, 30s]", c.ThroughputWorkers, c.ThroughputDuration)
	}
	return errors.Join(errs...)
}

// Run runs every measurement and returns the report. It stops everything
// it started before returning, also when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	strategy, err := deploy.ParseStrategy(cfg.Strategy)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, strategy: strategy, rep: &Report{Date: time.Now().UTC(), Machine: describeMachine(), TimeScale: cfg.TimeScale,
		Rate: cfg.Rate, Strategy: cfg.Strategy, BaselineWait: cfg.BaselineWait, CheckRequests: cfg.CheckRequests}}
	start := time.Now()
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.hostDir)
	for _, s := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"bad release, all-at-once baseline", r.baseline},
		{"bad release, relayshift", r.canary},
		{"rollback function latency", r.rollbackLatency},
		{"healthy lab: weight changes, throughput, deployments, bootstraps", r.healthy},
	} {
		began := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		r.progress("%s: done in %s", s.name, time.Since(began).Round(100*time.Millisecond))
	}
	r.rep.Elapsed = time.Since(start)
	return r.rep, nil
}

// runner holds one run's state.
type runner struct {
	cfg      Config
	strategy deploy.Strategy
	rep      *Report
	root     string
	rie      string
	hostDir  string
	memory   map[string]int
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
}

// prepare checks the prerequisites before anything is measured, reads the
// template, and builds the host bootstraps.
func (r *runner) prepare(ctx context.Context) error {
	abs, err := filepath.Abs(r.cfg.Template)
	if err != nil {
		return err
	}
	r.cfg.Template, r.root = abs, filepath.Dir(abs)
	tpl, err := samtemplate.Load(abs)
	if err != nil {
		return err
	}
	if r.memory, err = MemorySizes(tpl); err != nil {
		return fmt.Errorf("%s: %w", abs, err)
	}
	var missing []string
	for _, f := range functions.All() {
		p := filepath.Join(r.cfg.BinDir, f.Name, "bootstrap")
		fi, err := os.Stat(p)
		if err != nil {
			missing = append(missing, p)
			continue
		}
		if err := checkARM64(p); err != nil {
			return err
		}
		r.rep.Bootstraps = append(r.rep.Bootstraps, Bootstrap{Name: f.Name, Size: fi.Size(), MemoryMB: r.memory[f.Name]})
	}
	if len(missing) > 0 {
		return fmt.Errorf("the linux/arm64 bootstraps are missing (%v): run `make build` first (`make bench` does)", missing)
	}
	if r.rie, err = findRIE(r.cfg.RIE, r.root); err != nil {
		return err
	}
	r.rep.MetricsPerEvaluate = len(cwmetrics.New(nil, cwmetrics.Target{}).Queries(60))
	if r.hostDir, err = os.MkdirTemp("", "relayshift-bench-"); err != nil {
		return err
	}
	r.progress("building the bootstraps for this machine (%s/%s) to time their init under aws-lambda-rie", runtime.GOOS, runtime.GOARCH)
	if err := buildHost(ctx, r.cfg.Go, r.root, r.hostDir); err != nil {
		os.RemoveAll(r.hostDir)
		return err
	}
	return nil
}
