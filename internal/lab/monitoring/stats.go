package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/relayshift/relayshift/internal/percentile"
)

// Statistics CloudWatch computes.
const (
	StatSum         = "Sum"
	StatSampleCount = "SampleCount"
	StatAverage     = "Average"
	StatMinimum     = "Minimum"
	StatMaximum     = "Maximum"
)

var percentileRE = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)$`)

// ValidStat reports whether stat is a statistic the lab computes: the five
// basic statistics or a percentile pNN / pNN.NN.
func ValidStat(stat string) bool {
	switch stat {
	case StatSum, StatSampleCount, StatAverage, StatMinimum, StatMaximum:
		return true
	}
	return percentileRE.MatchString(stat)
}

// IsPercentile reports whether stat is an extended (percentile) statistic.
func IsPercentile(stat string) bool { return percentileRE.MatchString(stat) }

// compute returns stat over values; false when there are none (no
// datapoint, never zero).
// NOTE: CloudWatch does not document its percentile algorithm beyond
// "approximate"; the lab uses the nearest-rank method on raw values
// (internal/percentile, as deploytest's fake CloudWatch does), exact for
// the traffic it saw.
func compute(stat string, values []float64) (float64, bool) {
	if len(values) == 0 {
		return 0, false
	}
	switch stat {
	case StatSum:
		s := 0.0
		for _, v := range values {
			s += v
		}
		return s, true
	case StatSampleCount:
		return float64(len(values)), true
	case StatAverage:
		s := 0.0
		for _, v := range values {
			s += v
		}
		return s / float64(len(values)), true
	case StatMinimum:
		return slices.Min(values), true
	case StatMaximum:
		return slices.Max(values), true
	}
	if !percentileRE.MatchString(stat) {
		return 0, false
	}
	p, err := strconv.ParseFloat(stat[1:], 64)
	if err != nil {
		return 0, false
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return percentile.NearestRank(sorted, p), true
}

// validPeriod reports whether period (seconds) is one CloudWatch accepts:
// 1, 5, 10, 20, 30 (high resolution) or a multiple of 60.
func validPeriod(period int) error {
	switch {
	case period <= 0:
		return fmt.Errorf("must be greater than 0")
	case period == 1 || period == 5 || period == 10 || period == 20 || period == 30 || period%60 == 0:
		return nil
	}
	return fmt.Errorf("must be 1, 5, 10, 20, 30 or a multiple of 60")
}
