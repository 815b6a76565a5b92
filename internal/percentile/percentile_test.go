package percentile

import (
	"math"
	"testing"
	"time"
)

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		n    int
		pct  float64
		want int
	}{
		{1, 50, 1}, {1, 99, 1}, {1, 0, 1}, {1, 100, 1},
		{100, 50, 50}, {100, 99, 99}, {100, 99.5, 100}, {100, 1, 1}, {100, 0.5, 1},
		// The float product 99.9/100*1000 is 999.0000000000001: its
		// ceiling would be 1000.
		{1000, 99.9, 999}, {1000, 99.99, 1000}, {10000, 99.99, 9999}, {100000, 99.999, 99999},
		{10, 95, 10}, {20, 95, 19}, {5, 50, 3}, {4, 50, 2}, {3, 100.0 / 3, 1},
		{7, 0.000001, 1},
		// Out of range: the extremes.
		{10, 0, 1}, {10, -5, 1}, {10, math.NaN(), 1}, {10, 100, 10}, {10, 250, 10}, {10, math.Inf(1), 10},
		// Large n does not overflow.
		{math.MaxInt64, 50, math.MaxInt64/2 + 1}, {math.MaxInt64, 99.9, 9214148664817921032}, // ⌈(2⁶³−1) × 999 / 1000⌉
	} {
		if got := Rank(tc.n, tc.pct); got != tc.want {
			t.Errorf("Rank(%d, %v) = %d, want %d", tc.n, tc.pct, got, tc.want)
		}
	}
}

func TestNearestRank(t *testing.T) {
	if got := NearestRank([]time.Duration(nil), 99); got != 0 {
		t.Errorf("no values: %v, want 0", got)
	}
	if got := NearestRank([]string{}, 50); got != "" {
		t.Errorf("no values: %q, want \"\"", got)
	}
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		pct  float64
		want time.Duration
	}{
		{ms(7), 50, 7 * time.Millisecond},
		{ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0, time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 100, 10 * time.Millisecond},
	} {
		if got := NearestRank(tc.in, tc.pct); got != tc.want {
			t.Errorf("NearestRank(%v, %v) = %v, want %v", tc.in, tc.pct, got, tc.want)
		}
	}
	values := seq(1000)
	if got := NearestRank(values, 99.9); got != 999 {
		t.Errorf("p99.9 of 1..1000 = %d, want 999", got)
	}
	floats := []float64{0.5, 1.5, 2.5, 3.5}
	if got := NearestRank(floats, 75); got != 2.5 {
		t.Errorf("p75 of %v = %v, want 2.5", floats, got)
	}
}
