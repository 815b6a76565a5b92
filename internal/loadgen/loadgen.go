// Package loadgen sends bounded loads of requests on loopback. Its open-loop
// mode (Start) sends a steady rate to one URL and records every outcome by
// the colour that served it (a response header the local lab's load
// balancer adds), and what it could not send; its closed-loop mode
// (ClosedLoop) sends as fast as the answers come, to measure throughput.
// The demo and the benchmark stand on it. Every load is bounded three ways
// (a rate or a number of workers, a cap on requests, a duration) and stops
// by itself.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Request is what one request sends.
type Request struct {
	// Method (default GET) and Body of the request; Header is added to it.
	Method string
	Body   []byte
	Header http.Header
}

// Send sends the request to url with client and reads the whole answer: a
// transport error, a 5xx, or a body that breaks midway (a cut stream) is a
// failure (Outcome.Failed). colourHeader names the response header that
// says which colour served it ("" for none).
func (q Request) Send(ctx context.Context, client *http.Client, url, colourHeader string) Outcome {
	method := q.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(q.Body))
	if err != nil {
		return Outcome{At: time.Now()}
	}
	for k, vs := range q.Header {
		req.Header[k] = vs
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Outcome{At: t0, Latency: time.Since(t0)}
	}
	_, rerr := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o := Outcome{At: t0, Status: resp.StatusCode, Latency: time.Since(t0)}
	if colourHeader != "" {
		o.Colour = resp.Header.Get(colourHeader)
	}
	if rerr != nil {
		o.Status = 0
	}
	return o
}

// Loopback reports an error unless rawURL is an absolute URL whose host is
// a loopback address or localhost: every load here targets loopback only.
func Loopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("loadgen: URL %q is not an absolute URL", rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadgen: %s is not on loopback", u.Host)
	}
	return nil
}

// Config says what to send, how fast, and for how long at most.
type Config struct {
	// URL receives every request. It must be on loopback.
	URL string
	// Request is what each request sends.
	Request
	// Rate is the number of requests started per second.
	Rate float64
	// Concurrency caps the requests in flight; a request that would exceed
	// it is not sent and counts as Skipped (the load stays bounded).
	Concurrency int
	// MaxRequests and MaxDuration bound the run.
	MaxRequests int
	MaxDuration time.Duration
	// Timeout bounds each request.
	Timeout time.Duration
	// ColourHeader is the response header naming the serving colour.
	ColourHeader string
}

// Outcome is one request's result.
type Outcome struct {
	At      time.Time
	Colour  string // "" when no response named one
	Status  int    // 0 on a transport error
	Latency time.Duration
}

// Failed reports whether the request failed from the client's point of
// view: a transport error or a 5xx.
func (o Outcome) Failed() bool { return o.Status == 0 || o.Status >= 500 }

// Run is a running load.
type Run struct {
	cfg    Config
	client *http.Client
	mu     sync.Mutex
	out    []Outcome
	// skipped holds when each request that was not sent was due.
	skipped []time.Time
	done    chan struct{}
	cancel  context.CancelFunc
}

// Start validates cfg and starts sending. The load stops when ctx ends,
// Stop is called, or a bound is reached.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	r := &Run{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}},
		done:   make(chan struct{}),
		cancel: cancel,
	}
	go r.loop(ctx)
	return r, nil
}

func (c Config) validate() error {
	if err := Loopback(c.URL); err != nil {
		return err
	}
	switch {
	case c.Rate <= 0 || c.Rate > 5000:
		return fmt.Errorf("loadgen: rate %v outside (0, 5000] per second", c.Rate)
	case c.Concurrency < 1 || c.Concurrency > 512:
		return fmt.Errorf("loadgen: concurrency %d outside 1-512", c.Concurrency)
	case c.MaxRequests < 1:
		return errors.New("loadgen: MaxRequests must be positive")
	case c.MaxDuration <= 0 || c.MaxDuration > 30*time.Minute:
		return fmt.Errorf("loadgen: MaxDuration %s outside (0, 30m]", c.MaxDuration)
	case c.Timeout <= 0:
		return errors.New("loadgen: Timeout must be positive")
	}
	return nil
}

func (r *Run) loop(ctx context.Context) {
	defer close(r.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.cfg.Concurrency)
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	start := time.Now()
	for i := 0; i < r.cfg.MaxRequests; i++ {
		// Pace against the start time, so slow requests do not lower the
		// rate (open-loop load, as real clients send).
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			r.mu.Lock()
			r.skipped = append(r.skipped, time.Now())
			r.mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			o := r.cfg.Send(ctx, r.client, r.cfg.URL, r.cfg.ColourHeader)
			// A request cut short by the end of the run is not the
			// server's failure: it is not recorded.
			if o.Failed() && ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			r.out = append(r.out, o)
			r.mu.Unlock()
		})
	}
}

// Stop ends the load and waits for requests in flight.
func (r *Run) Stop() {
	r.cancel()
	<-r.done
}

// Outcomes returns a copy of the outcomes so far, in completion order.
func (r *Run) Outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.out)
}

// Skipped is the number of requests not sent because Concurrency requests
// were already in flight.
func (r *Run) Skipped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.skipped)
}

// SkippedBetween is the number of requests due in [from, to) that were not
// sent because Concurrency requests were already in flight: a stall of the
// server shows here, not as failures.
func (r *Run) SkippedBetween(from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, at := range r.skipped {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}
