package monitoring

import (
	"slices"
	"sort"
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
// included) can be computed over any window it retains. It is safe for
// concurrent use.
type Store struct {
	now func() time.Time

	mu        sync.RWMutex
	retention time.Duration
	series    map[string]*series
	puts      int
}

// NewStore returns an empty store keeping datapoints for retention (real
// time: the lab sizes it from its time scale). now is the clock (time.Now
// when nil).
func NewStore(now func() time.Time, retention time.Duration) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{retention: retention, now: now, series: map[string]*series{}}
}

// SetRetention changes how long datapoints are kept, and drops the older
// ones at once.
func (s *Store) SetRetention(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retention = d
	s.pruneLocked()
}

// keepAtLeast extends the retention to d when it is shorter.
func (s *Store) keepAtLeast(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retention = max(s.retention, d)
}

// Retention returns how long datapoints are kept.
func (s *Store) Retention() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.retention
}

// Put records one datapoint. Datapoints are kept in time order (one
// published a little late by a concurrent request is inserted in place).
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
	x := sample{at: at.UnixNano(), v: value}
	if n := len(sr.samples); n == 0 || sr.samples[n-1].at <= x.at {
		sr.samples = append(sr.samples, x)
	} else {
		i := sort.Search(n, func(i int) bool { return sr.samples[i].at > x.at })
		sr.samples = slices.Insert(sr.samples, i, x)
	}
	s.puts++
	if s.puts%4096 == 0 {
		s.pruneLocked()
	}
}

func (s *Store) pruneLocked() {
	cut := s.now().Add(-s.retention).UnixNano()
	for k, sr := range s.series {
		i := sort.Search(len(sr.samples), func(i int) bool { return sr.samples[i].at >= cut })
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
	i := sort.Search(len(sr.samples), func(i int) bool { return sr.samples[i].at >= lo })
	j := sort.Search(len(sr.samples), func(i int) bool { return sr.samples[i].at >= hi })
	if i >= j {
		return nil
	}
	return slices.Clone(sr.samples[i:j])
}
