// Package percentile computes nearest-rank percentiles. It is the one
// definition the project uses: the warm-up's p95 judgement
// (internal/relayprobe), the two stand-ins for CloudWatch's TargetResponseTime
// percentiles (the lab's monitoring and deploytest's fake), and the demo's
// and the bench's latency figures.
package percentile

import (
	"cmp"
	"math"
	"math/bits"
)

// scale is the precision of a percentile: millionths of a percent. A
// percentile is rounded to it before the rank is computed, in integers,
// so that p99.9 of 1,000 values is the 999th value and not the 1,000th (in
// floating point 99.9/100*1000 is 999.0000000000001).
const scale = 1_000_000

// NearestRank returns the nearest-rank pct-th percentile (0 to 100) of
// sorted, which must be in ascending order: the value at rank
// ⌈pct/100 × n⌉, counting from 1, at least 1. pct at or below 0 (or NaN)
// gives the smallest value, at or above 100 the largest; an empty slice
// gives T's zero value.
func NearestRank[T cmp.Ordered](sorted []T, pct float64) T {
	var zero T
	n := len(sorted)
	if n == 0 {
		return zero
	}
	return sorted[Rank(n, pct)-1]
}

// Rank is the nearest-rank position (1 to n) of the pct-th percentile of n
// values, n ≥ 1: ⌈pct/100 × n⌉ computed in integers after rounding pct to
// a millionth of a percent, clamped to 1..n.
func Rank(n int, pct float64) int {
	if n < 1 {
		return 1
	}
	switch {
	case !(pct > 0): // also NaN
		return 1
	case pct >= 100:
		return n
	}
	units := uint64(math.Round(pct * scale)) // ≤ 100 × scale
	// ⌈units × n / (100 × scale)⌉ without overflow: the product fits in
	// 128 bits, and its high word is below the divisor.
	const whole = 100 * scale
	hi, lo := bits.Mul64(units, uint64(n))
	lo, carry := bits.Add64(lo, whole-1, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, whole)
	return max(1, min(int(q), n))
}
