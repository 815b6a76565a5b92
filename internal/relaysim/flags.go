package relaysim

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// RegisterFlags binds c's settings to flags on fs, with c's current values
// as defaults:
//
//	-models a,b  -api-key KEY  -version V  -token-interval D
//	-error-rate R  -error-status N  -latency D  -first-token-delay D
//	-broken-sse  -wrong-schema  -crash-after N  -crash  -start-delay D
//	-fault-exempt-header "Name[: value]"
//
// Durations are Go durations ("250ms"). Call c.Faults.Validate (or New)
// after fs.Parse.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if len(c.Models) == 0 {
		c.Models = DefaultModels()
	}
	fs.Func("models", fmt.Sprintf("comma-separated model ids to serve (default %q)", strings.Join(c.Models, ",")), func(s string) error {
		var ms []string
		for m := range strings.SplitSeq(s, ",") {
			if m = strings.TrimSpace(m); m != "" {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			return fmt.Errorf("no model in %q", s)
		}
		c.Models = ms
		return nil
	})
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "API key required as a Bearer token on /v1/* (empty: no auth)")
	fs.StringVar(&c.Version, "version", c.Version, "version reported by /health and the X-Relay-Version header")
	fs.DurationVar(&c.TokenInterval, "token-interval", c.TokenInterval, "delay between streamed tokens")
	f := &c.Faults
	fs.Float64Var(&f.ErrorRate, "error-rate", f.ErrorRate, "share (0-1) of chat requests answered with -error-status, evenly spread")
	fs.IntVar(&f.ErrorStatus, "error-status", f.ErrorStatus, "status of injected errors (default 500)")
	durationVar(fs, &f.Latency, "latency", "latency added to every chat response")
	durationVar(fs, &f.FirstTokenDelay, "first-token-delay", "delay before the first content token")
	fs.BoolVar(&f.BrokenSSE, "broken-sse", f.BrokenSSE, "break the SSE framing of streamed responses")
	fs.BoolVar(&f.WrongSchema, "wrong-schema", f.WrongSchema, "answer in the legacy text-completion shape")
	fs.IntVar(&f.CrashAfter, "crash-after", f.CrashAfter, "crash after serving this many chat requests (0: never)")
	fs.BoolVar(&f.Crash, "crash", f.Crash, "start crashed: drop every connection")
	durationVar(fs, &f.StartDelay, "start-delay", "answer 503 on every path for this long after start")
	fs.StringVar(&f.ExemptHeader, "fault-exempt-header", f.ExemptHeader, `apply faults only to requests WITHOUT this header ("Name" or "Name: value")`)
}

func durationVar(fs *flag.FlagSet, d *Duration, name, usage string) {
	fs.DurationVar((*time.Duration)(d), name, time.Duration(*d), usage)
}
