package monitoring

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Dimension is a CloudWatch metric dimension.
type Dimension struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// Metric identifies a metric: namespace, name and the exact set of
// dimensions (CloudWatch treats each dimension combination as its own
// metric).
type Metric struct {
	Namespace  string      `json:"Namespace"`
	MetricName string      `json:"MetricName"`
	Dimensions []Dimension `json:"Dimensions,omitempty"`
}

// key is the metric's canonical identity: dimensions sorted by name.
func (m Metric) key() string {
	dims := slices.Clone(m.Dimensions)
	slices.SortFunc(dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteString(m.Namespace)
	b.WriteByte(0)
	b.WriteString(m.MetricName)
	for _, d := range dims {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	return b.String()
}

type sample struct {
	at int64 // unix nanoseconds
	v  float64
}

type series struct {
	metric  Metric
	samples []sample
}

// Store keeps raw datapoints per metric, so any statistic (percentiles
// included) can be computed over any window. It is safe for concurrent
// use.
type Store struct {
	// Retention bounds how long datapoints are kept (default 3 h).
	Retention time.Duration
	now       func() time.Time

	mu     sync.RWMutex
	series map[string]*series
	puts   int
}

// NewStore returns an empty store. now is the clock (time.Now when nil).
func NewStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{Retention: 3 * time.Hour, now: now, series: map[string]*series{}}
}

// Put records one datapoint.
func (s *Store) Put(m Metric, at time.Time, value float64) {
	k := m.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.series[k]
	if !ok {
		m.Dimensions = slices.Clone(m.Dimensions)
		sr = &series{metric: m}
		s.series[k] = sr
	}
	sr.samples = append(sr.samples, sample{at: at.UnixNano(), v: value})
	s.puts++
	if s.puts%4096 == 0 {
		s.pruneLocked()
	}
}

func (s *Store) pruneLocked() {
	cut := s.now().Add(-s.Retention).UnixNano()
	for k, sr := range s.series {
		i := 0
		for i < len(sr.samples) && sr.samples[i].at < cut {
			i++
		}
		if i > 0 {
			sr.samples = slices.Delete(sr.samples, 0, i)
		}
		if len(sr.samples) == 0 {
			delete(s.series, k)
		}
	}
}

// values returns the values of metric m recorded in [from, to).
// NOTE: a metric is matched by its exact dimension set, as CloudWatch
// does: a query with only LoadBalancer does not see datapoints published
// with LoadBalancer and TargetGroup.
func (s *Store) values(m Metric, from, to time.Time) []sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sr, ok := s.series[m.key()]
	if !ok {
		return nil
	}
	lo, hi := from.UnixNano(), to.UnixNano()
	var out []sample
	for _, x := range sr.samples {
		if x.at >= lo && x.at < hi {
			out = append(out, x)
		}
	}
	return out
}
