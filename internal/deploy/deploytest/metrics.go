package deploytest

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/percentile"
)

// Metrics is an in-memory CloudWatch for one load balancer: it keeps every
// request each colour served and every alarm's state, and answers
// deploy.Metrics the way CloudWatch does (no requests in the window, no
// datapoints; percentiles over the window's requests).
type Metrics struct {
	mu        sync.Mutex
	prefix    string
	requests  []served
	unhealthy []hosts
	alarms    map[string]string
	windows   int
	// Err, when set, is returned by every call.
	Err error
}

type served struct {
	c       deploy.Colour
	at      time.Time
	latency time.Duration
	status  int
	connErr bool
}

type hosts struct {
	c  deploy.Colour
	at time.Time
	n  int
}

// NewMetrics returns an empty Metrics whose pipeline alarms are those named
// with prefix.
func NewMetrics(prefix string) *Metrics {
	return &Metrics{prefix: prefix, alarms: map[string]string{}}
}

// Serve records n requests served by colour c at time at, each taking
// latency and answering status.
func (m *Metrics) Serve(c deploy.Colour, at time.Time, n int, latency time.Duration, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.requests = append(m.requests, served{c: c, at: at, latency: latency, status: status})
	}
}

// ConnectionErrors records n requests colour c's targets refused at time
// at (TargetConnectionErrorCount; the load balancer answers 502).
func (m *Metrics) ConnectionErrors(c deploy.Colour, at time.Time, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.requests = append(m.requests, served{c: c, at: at, connErr: true})
	}
}

// Unhealthy records that colour c had n unhealthy hosts at time at.
func (m *Metrics) Unhealthy(c deploy.Colour, at time.Time, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unhealthy = append(m.unhealthy, hosts{c: c, at: at, n: n})
}

// SetAlarm sets the state of alarm name (OK, ALARM, INSUFFICIENT_DATA).
func (m *Metrics) SetAlarm(name, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alarms[name] = state
}

// Windows returns how many windows were queried.
func (m *Metrics) Windows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.windows
}

// Window implements deploy.Metrics.
func (m *Metrics) Window(_ context.Context, from, to time.Time) (deploy.Window, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return deploy.Window{}, m.Err
	}
	m.windows++
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	w := deploy.Window{From: from, To: to}
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		var s deploy.Sample
		var lat []time.Duration
		for _, r := range m.requests {
			if r.c != c || !in(r.at) {
				continue
			}
			s.Requests++
			switch {
			case r.connErr:
				s.ConnectionErrors++
			default:
				lat = append(lat, r.latency)
				if r.status >= 500 {
					s.Target5xx++
				}
			}
		}
		s.NoData = s.Requests == 0
		if len(lat) > 0 {
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			s.HasLatency, s.P50, s.P99 = true, percentile.NearestRank(lat, 50), percentile.NearestRank(lat, 99)
		}
		for _, h := range m.unhealthy {
			if h.c == c && in(h.at) {
				s.UnhealthyHosts = math.Max(s.UnhealthyHosts, float64(h.n))
			}
		}
		if c == deploy.Green {
			w.Green = s
		} else {
			w.Blue = s
		}
	}
	return w, nil
}

// Alarms implements deploy.Metrics.
func (m *Metrics) Alarms(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return nil, m.Err
	}
	out := []string{}
	for name, state := range m.alarms {
		if strings.HasPrefix(name, m.prefix) && state == "ALARM" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}
