package bench

import (
	"slices"
	"time"
)

// medianDuration returns the median of ds (the mean of the middle two for
// an even count), 0 for none.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// medianFloat returns the median of vs, 0 for none.
func medianFloat(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// medianInt returns the median of vs as a float (an even count can fall
// between two counts).
func medianInt(vs []int) float64 {
	fs := make([]float64, len(vs))
	for i, v := range vs {
		fs[i] = float64(v)
	}
	return medianFloat(fs)
}

// medianOf returns the median of f over rs (see medianInt).
func medianOf[R any](rs []R, f func(R) int) float64 {
	vs := make([]int, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	return medianInt(vs)
}

// alarmPath returns the canary runs the alarm path rolled back.
func alarmPath(runs []CanaryRun) []CanaryRun {
	var out []CanaryRun
	for _, r := range runs {
		if r.Path == "alarm" {
			out = append(out, r)
		}
	}
	return out
}
