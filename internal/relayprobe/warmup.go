package relayprobe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relayshift/relayshift/internal/percentile"
)

// WarmupConfig says what a warm-up sends and what it must achieve.
type WarmupConfig struct {
	// Models are the model ids to warm up; each gets Requests non-streamed
	// and Streams streamed chat completions.
	Models   []string
	Requests int
	Streams  int
	// Concurrency bounds the requests in flight.
	Concurrency int
	// MaxRequests is a hard cap on the requests of one warm-up.
	MaxRequests int
	// MaxTokens is the max_tokens of every request (keep it tiny).
	MaxTokens int
	// MinSuccessRatio (0-1] applies to each model's non-streamed and
	// streamed requests separately.
	MinSuccessRatio float64
	// MaxP95Latency bounds each model's p95 latency (all kinds), and
	// MaxP95TTFT its p95 time to first token (streams); 0 disables.
	MaxP95Latency time.Duration
	MaxP95TTFT    time.Duration
}

// DefaultWarmupConfig returns the defaults documented in the README.
func DefaultWarmupConfig() WarmupConfig {
	return WarmupConfig{
		Requests: 10, Streams: 5, Concurrency: 4, MaxRequests: 200, MaxTokens: 16,
		MinSuccessRatio: 0.9, MaxP95Latency: 10 * time.Second, MaxP95TTFT: 5 * time.Second,
	}
}

// Total is the number of requests the warm-up plans to send.
func (c WarmupConfig) Total() int { return len(c.Models) * (c.Requests + c.Streams) }

// Validate checks the configuration, reporting every problem.
func (c WarmupConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Models) == 0 {
		bad("no warm-up model")
	}
	for i, m := range c.Models {
		if strings.TrimSpace(m) == "" {
			bad("warm-up model %d is empty", i+1)
		} else if slices.Index(c.Models, m) != i {
			bad("warm-up model %q is listed twice", m)
		}
	}
	if c.Requests < 0 || c.Streams < 0 || c.Requests+c.Streams == 0 {
		bad("requests %d and streams %d: want at least one request per model, none negative", c.Requests, c.Streams)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		bad("concurrency %d outside 1-64", c.Concurrency)
	}
	if c.MaxRequests < 1 {
		bad("max requests %d: want at least 1", c.MaxRequests)
	} else if c.Total() > c.MaxRequests {
		bad("%d models x (%d requests + %d streams) = %d requests, above the cap of %d",
			len(c.Models), c.Requests, c.Streams, c.Total(), c.MaxRequests)
	}
	if c.MaxTokens < 1 || c.MaxTokens > 4096 {
		bad("max tokens %d outside 1-4096", c.MaxTokens)
	}
	if !(c.MinSuccessRatio > 0 && c.MinSuccessRatio <= 1) {
		bad("min success ratio %v outside (0, 1]", c.MinSuccessRatio)
	}
	if c.MaxP95Latency < 0 || c.MaxP95TTFT < 0 {
		bad("p95 thresholds must not be negative")
	}
	return errors.Join(errs...)
}

// Failures counts failed requests by class.
type Failures struct {
	Auth        int `json:"auth"`
	RateLimited int `json:"429"`
	ClientError int `json:"4xx"`
	ServerError int `json:"5xx"`
	Timeout     int `json:"timeout"`
	Connection  int `json:"connection"`
	BadSchema   int `json:"bad_schema"`
	BadSSE      int `json:"bad_sse"`
}

func (f *Failures) count(c Class) *int {
	switch c {
	case Auth:
		return &f.Auth
	case RateLimited:
		return &f.RateLimited
	case ClientError:
		return &f.ClientError
	case ServerError:
		return &f.ServerError
	case Timeout:
		return &f.Timeout
	case Connection:
		return &f.Connection
	case BadSchema:
		return &f.BadSchema
	case BadSSE:
		return &f.BadSSE
	}
	return nil
}

// Of returns the count of class c.
func (f Failures) Of(c Class) int {
	if p := f.count(c); p != nil {
		return *p
	}
	return 0
}

// String renders the non-zero counts: "5xx=3 bad_sse=1".
func (f Failures) String() string {
	var parts []string
	for _, c := range Classes() {
		if n := f.Of(c); n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c, n))
		}
	}
	return strings.Join(parts, " ")
}

// Verdict classes that are not request failures.
const (
	// SlowLatency: the p95 latency is above its threshold.
	SlowLatency Class = "latency"
	// SlowTTFT: the p95 time to first token is above its threshold.
	SlowTTFT Class = "ttft"
)

// ModelReport is one model's warm-up. Durations are milliseconds.
type ModelReport struct {
	Model string `json:"model"`
	// Requests and Streams are the non-streamed and streamed requests
	// sent; Succeeded and Failed count both kinds.
	Requests         int     `json:"requests"`
	Streams          int     `json:"streams"`
	Succeeded        int     `json:"succeeded"`
	Failed           int     `json:"failed"`
	SuccessRatio     float64 `json:"successRatio"`
	StreamsSucceeded int     `json:"streamsSucceeded"`
	LatencyP50Ms     float64 `json:"latencyP50Ms"`
	LatencyP95Ms     float64 `json:"latencyP95Ms"`
	TTFTP50Ms        float64 `json:"ttftP50Ms"`
	TTFTP95Ms        float64 `json:"ttftP95Ms"`
	// Failures counts failed requests by class; Examples holds the first
	// detail seen for each failing class.
	Failures Failures         `json:"failures"`
	Examples map[Class]string `json:"examples"`
	Passed   bool             `json:"passed"`
	// Class names why the model failed (a failure class, "latency" or
	// "ttft"); Reasons say it in words. Both empty when it passed.
	Class   Class    `json:"class"`
	Reasons []string `json:"reasons"`
}

// Report is a warm-up's result.
type Report struct {
	Passed     bool          `json:"passed"`
	Models     []ModelReport `json:"models"`
	Requests   int           `json:"requests"`
	DurationMs float64       `json:"durationMs"`
	Thresholds Thresholds    `json:"thresholds"`
}

// Thresholds echoes the configuration the report was judged by.
type Thresholds struct {
	MinSuccessRatio float64 `json:"minSuccessRatio"`
	MaxP95LatencyMs float64 `json:"maxP95LatencyMs"`
	MaxP95TTFTMs    float64 `json:"maxP95TtftMs"`
}

// Failed returns the reports of the models that did not pass.
func (r Report) Failed() []ModelReport {
	var out []ModelReport
	for _, m := range r.Models {
		if !m.Passed {
			out = append(out, m)
		}
	}
	return out
}

// Summary is one line naming every failing model and its class, e.g.
// `model "gpt-4o-mini" 5xx: 3 of 15 requests failed (5xx=3), success ratio
// 0.80 below 0.90; e.g. HTTP 500: upstream error`.
func (r Report) Summary() string {
	if r.Passed {
		return fmt.Sprintf("all %d models passed (%d requests)", len(r.Models), r.Requests)
	}
	var parts []string
	for _, m := range r.Failed() {
		parts = append(parts, fmt.Sprintf("model %q %s: %s", m.Model, m.Class, strings.Join(m.Reasons, "; ")))
	}
	return strings.Join(parts, " | ")
}

// Warmup sends the configured requests through c and judges them.
func Warmup(ctx context.Context, c *Client, cfg WarmupConfig) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	type job struct {
		model  string
		stream bool
	}
	var jobs []job
	for _, m := range cfg.Models {
		for range cfg.Requests {
			jobs = append(jobs, job{m, false})
		}
		for range cfg.Streams {
			jobs = append(jobs, job{m, true})
		}
	}
	// The hard cap holds even if Validate is bypassed.
	jobs = jobs[:min(len(jobs), cfg.MaxRequests)]

	start := c.now()
	results := make([]Result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				if ctx.Err() != nil {
					results[i] = Result{Model: j.model, Stream: j.stream, Class: Timeout,
						Detail: "not sent: the warm-up ran out of time (" + context.Cause(ctx).Error() + ")"}
					continue
				}
				if j.stream {
					results[i] = c.Stream(ctx, j.model, cfg.MaxTokens)
				} else {
					results[i] = c.Chat(ctx, j.model, cfg.MaxTokens)
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	rep := Report{
		Passed: true, Requests: len(jobs), DurationMs: ms(c.now().Sub(start)),
		Thresholds: Thresholds{MinSuccessRatio: cfg.MinSuccessRatio, MaxP95LatencyMs: ms(cfg.MaxP95Latency), MaxP95TTFTMs: ms(cfg.MaxP95TTFT)},
	}
	for _, m := range cfg.Models {
		var rs []Result
		for _, r := range results {
			if r.Model == m {
				rs = append(rs, r)
			}
		}
		mr := judge(m, rs, cfg)
		rep.Passed = rep.Passed && mr.Passed
		rep.Models = append(rep.Models, mr)
	}
	return rep, nil
}

// judge summarises one model's results and applies the thresholds.
func judge(model string, rs []Result, cfg WarmupConfig) ModelReport {
	mr := ModelReport{Model: model, Examples: map[Class]string{}, Reasons: []string{}}
	var lat, ttft []time.Duration
	var chatOK, streamOK int
	for _, r := range rs {
		if r.Stream {
			mr.Streams++
		} else {
			mr.Requests++
		}
		if r.Class != OK {
			mr.Failed++
			if p := mr.Failures.count(r.Class); p != nil {
				*p++
			}
			if _, seen := mr.Examples[r.Class]; !seen {
				mr.Examples[r.Class] = r.Detail
			}
			continue
		}
		mr.Succeeded++
		lat = append(lat, r.Latency)
		if r.Stream {
			streamOK++
			ttft = append(ttft, r.TTFT)
		} else {
			chatOK++
		}
	}
	mr.StreamsSucceeded = streamOK
	if n := mr.Requests + mr.Streams; n > 0 {
		mr.SuccessRatio = round(float64(mr.Succeeded)/float64(n), 4)
	}
	slices.Sort(lat)
	slices.Sort(ttft)
	latP95, ttftP95 := percentile.NearestRank(lat, 95), percentile.NearestRank(ttft, 95)
	mr.LatencyP50Ms, mr.LatencyP95Ms = ms(percentile.NearestRank(lat, 50)), ms(latP95)
	mr.TTFTP50Ms, mr.TTFTP95Ms = ms(percentile.NearestRank(ttft, 50)), ms(ttftP95)

	fail := func(c Class, reason string) {
		if mr.Class == OK {
			mr.Class = c
		}
		mr.Reasons = append(mr.Reasons, reason)
	}
	for _, kind := range []struct {
		name    string
		sent    int
		ok      int
		streams bool
	}{{"requests", mr.Requests, chatOK, false}, {"streams", mr.Streams, streamOK, true}} {
		if kind.sent == 0 {
			continue
		}
		ratio := float64(kind.ok) / float64(kind.sent)
		if ratio >= cfg.MinSuccessRatio {
			continue
		}
		var f Failures
		examples := map[Class]string{}
		for _, r := range rs {
			if r.Stream == kind.streams && r.Class != OK {
				*f.count(r.Class)++
				if _, seen := examples[r.Class]; !seen {
					examples[r.Class] = r.Detail
				}
			}
		}
		c := dominant(f)
		fail(c, fmt.Sprintf("%d of %d %s failed (%s), success ratio %.2f below %.2f; e.g. %s",
			kind.sent-kind.ok, kind.sent, kind.name, f, ratio, cfg.MinSuccessRatio, examples[c]))
	}
	if cfg.MaxP95Latency > 0 && latP95 > cfg.MaxP95Latency {
		fail(SlowLatency, fmt.Sprintf("p95 latency %s above %s", latP95.Round(time.Millisecond), cfg.MaxP95Latency))
	}
	if cfg.MaxP95TTFT > 0 && ttftP95 > cfg.MaxP95TTFT {
		fail(SlowTTFT, fmt.Sprintf("p95 time to first token %s above %s", ttftP95.Round(time.Millisecond), cfg.MaxP95TTFT))
	}
	mr.Passed = mr.Class == OK
	return mr
}

// dominant returns the class with the most failures, ties going to the
// earlier class in Classes().
func dominant(f Failures) Class {
	best, n := OK, 0
	for _, c := range Classes() {
		if f.Of(c) > n {
			best, n = c, f.Of(c)
		}
	}
	return best
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
