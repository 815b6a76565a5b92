// Package loadgen sends a steady, bounded load of requests to one URL on
// loopback and records every outcome by the colour that served it (a
// response header the local lab's load balancer adds). The demo and the
// benchmark stand on it. Every run is bounded three ways: a rate, a cap on
// requests, and a duration; it stops by itself.
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

// Config says what to send, how fast, and for how long at most.
type Config struct {
	// URL receives every request. It must be on loopback.
	URL string
	// Method and Body of each request; Header is added to it.
	Method string
	Body   []byte
	Header http.Header
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
	cfg     Config
	client  *http.Client
	mu      sync.Mutex
	out     []Outcome
	skipped int
	done    chan struct{}
	cancel  context.CancelFunc
}

// Start validates cfg and starts sending. The load stops when ctx ends,
// Stop is called, or a bound is reached.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
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
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("loadgen: URL %q is not an absolute URL", c.URL)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadgen: %s is not on loopback", u.Host)
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
			r.skipped++
			r.mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			o := r.send(ctx)
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

func (r *Run) send(ctx context.Context) Outcome {
	req, err := http.NewRequestWithContext(ctx, r.cfg.Method, r.cfg.URL, bytes.NewReader(r.cfg.Body))
	if err != nil {
		return Outcome{At: time.Now()}
	}
	for k, vs := range r.cfg.Header {
		req.Header[k] = vs
	}
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return Outcome{At: t0, Latency: time.Since(t0)}
	}
	// Read the whole body: a stream that breaks midway is a failure too.
	_, rerr := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o := Outcome{At: t0, Colour: resp.Header.Get(r.cfg.ColourHeader), Status: resp.StatusCode, Latency: time.Since(t0)}
	if rerr != nil {
		o.Status = 0
	}
	return o
}

// Stop ends the load and waits for requests in flight.
func (r *Run) Stop() {
	r.cancel()
	<-r.done
}

// Done is closed when the run has ended by itself or been stopped.
func (r *Run) Done() <-chan struct{} { return r.done }

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
	return r.skipped
}
