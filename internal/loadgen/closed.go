package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ClosedLoop is the closed-loop mode, the measure of throughput: Workers
// each send the Request one at a time, as soon as the previous answer is
// read, to URLs in turn, for Duration or MaxRequests, whichever comes
// first. It is bounded in workers, requests and time, and on loopback only.
type ClosedLoop struct {
	// URLs receive the requests in turn; each must be on loopback.
	URLs []string
	Request
	// Workers (1-64) send concurrently.
	Workers     int
	Duration    time.Duration
	MaxRequests int64
	// Timeout bounds each request.
	Timeout time.Duration
}

// ClosedResult is what a closed-loop run completed.
type ClosedResult struct {
	// Requests completed (answered or failed) before the end; Failures
	// among them (Outcome.Failed).
	Requests, Failures int64
	Elapsed            time.Duration
}

// PerSecond is the completed requests per second.
func (r ClosedResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (c ClosedLoop) validate() error {
	if len(c.URLs) == 0 {
		return errors.New("loadgen: closed loop: no URL")
	}
	for _, u := range c.URLs {
		if err := Loopback(u); err != nil {
			return err
		}
	}
	switch {
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("loadgen: closed loop: %d workers outside 1-64", c.Workers)
	case c.Duration <= 0 || c.Duration > 30*time.Second:
		return fmt.Errorf("loadgen: closed loop: duration %s outside (0, 30s]", c.Duration)
	case c.MaxRequests < 1:
		return errors.New("loadgen: closed loop: MaxRequests must be positive")
	case c.Timeout <= 0:
		return errors.New("loadgen: closed loop: Timeout must be positive")
	}
	return nil
}

// Run runs the loop until Duration or MaxRequests, or until ctx ends. A
// request cut short by the end of the run is not counted.
func (c ClosedLoop) Run(ctx context.Context) (ClosedResult, error) {
	if err := c.validate(); err != nil {
		return ClosedResult{}, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: c.Workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: c.Timeout, Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var sent, done, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c.Workers {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				if sent.Add(1) > c.MaxRequests {
					return
				}
				o := c.Send(ctx, client, c.URLs[i%len(c.URLs)], "")
				if ctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				done.Add(1)
				if o.Failed() {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ClosedResult{Requests: done.Load(), Failures: failed.Load(), Elapsed: time.Since(start)}, nil
}
