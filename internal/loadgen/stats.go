package loadgen

import (
	"slices"
	"sort"
	"time"

	"github.com/relayshift/relayshift/internal/percentile"
)

// Stats summarises outcomes.
type Stats struct {
	Requests int
	Failures int
	// P50 and P99 latencies (0 without requests).
	P50, P99 time.Duration
}

// Summarise computes Stats over outcomes.
func Summarise(outcomes []Outcome) Stats {
	s := Stats{Requests: len(outcomes)}
	lat := make([]time.Duration, 0, len(outcomes))
	for _, o := range outcomes {
		if o.Failed() {
			s.Failures++
		}
		lat = append(lat, o.Latency)
	}
	slices.Sort(lat)
	s.P50, s.P99 = percentile.NearestRank(lat, 50), percentile.NearestRank(lat, 99)
	return s
}

// ByColour groups outcomes by serving colour ("" for failures no colour
// answered).
func ByColour(outcomes []Outcome) map[string]Stats {
	groups := map[string][]Outcome{}
	for _, o := range outcomes {
		groups[o.Colour] = append(groups[o.Colour], o)
	}
	out := map[string]Stats{}
	for c, g := range groups {
		out[c] = Summarise(g)
	}
	return out
}

// Between returns the outcomes of requests started in [from, to).
func Between(outcomes []Outcome, from, to time.Time) []Outcome {
	var out []Outcome
	for _, o := range outcomes {
		if !o.At.Before(from) && o.At.Before(to) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
