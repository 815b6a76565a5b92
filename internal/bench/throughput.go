package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// closedLoop drives as many requests as Workers can complete, one at a
// time each, to URLs (round robin), for Duration or MaxRequests, whichever
// comes first: the measure of throughput. It is bounded in workers,
// requests and time, and on loopback only.
type closedLoop struct {
	URLs        []string
	Path        string
	Method      string
	Body        []byte
	Header      http.Header
	Workers     int
	Duration    time.Duration
	MaxRequests int64
	Timeout     time.Duration
}

type closedResult struct {
	Requests, Failures int64
	Elapsed            time.Duration
}

// PerSecond is the completed requests per second.
func (r closedResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (c closedLoop) validate() error {
	if len(c.URLs) == 0 {
		return fmt.Errorf("throughput: no URL")
	}
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("throughput: %q is not an absolute URL", raw)
		}
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("throughput: %s is not on loopback", u.Host)
		}
	}
	switch {
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("throughput: %d workers outside 1-64", c.Workers)
	case c.Duration <= 0 || c.Duration > 30*time.Second:
		return fmt.Errorf("throughput: duration %s outside (0, 30s]", c.Duration)
	case c.MaxRequests < 1:
		return fmt.Errorf("throughput: MaxRequests must be positive")
	case c.Timeout <= 0:
		return fmt.Errorf("throughput: Timeout must be positive")
	}
	return nil
}

func (c closedLoop) run(ctx context.Context) (closedResult, error) {
	if err := c.validate(); err != nil {
		return closedResult{}, err
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
				ok := c.one(ctx, client, c.URLs[i%len(c.URLs)]+c.Path)
				if ctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				done.Add(1)
				if !ok {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return closedResult{Requests: done.Load(), Failures: failed.Load(), Elapsed: time.Since(start)}, nil
}

func (c closedLoop) one(ctx context.Context, client *http.Client, u string) bool {
	req, err := http.NewRequestWithContext(ctx, c.Method, u, bytes.NewReader(c.Body))
	if err != nil {
		return false
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, rerr := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return rerr == nil && resp.StatusCode < 500
}
