package monitoring

import "testing"

// The lab's percentiles are nearest-rank ones computed in integers: p99.9
// of 1,000 values is the 999th (a floating-point ⌈99.9/100 × 1000⌉ gives
// the 1,000th), as deploytest's fake CloudWatch computes them.
func TestComputePercentile(t *testing.T) {
	values := make([]float64, 1000)
	for i := range values {
		values[len(values)-1-i] = float64(i + 1) // unsorted: 1000 down to 1
	}
	for _, tc := range []struct {
		stat string
		want float64
	}{{"p99.9", 999}, {"p99", 990}, {"p50", 500}, {"p100", 1000}, {"p0.1", 1}, {"p99.99", 1000}} {
		if got, ok := compute(tc.stat, values); !ok || got != tc.want {
			t.Errorf("%s of 1..1000: %v (%v), want %v", tc.stat, got, ok, tc.want)
		}
	}
	if _, ok := compute("p99", nil); ok {
		t.Error("a percentile of no values is a datapoint")
	}
}
