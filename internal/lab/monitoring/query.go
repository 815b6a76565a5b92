package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// MetricStat is a metric and the statistic to compute over each period
// (types.MetricStat).
type MetricStat struct {
	Metric Metric `json:"Metric"`
	Period int    `json:"Period"`
	Stat   string `json:"Stat"`
	Unit   string `json:"Unit,omitempty"`
}

// Query is one entry of MetricDataQueries (types.MetricDataQuery): either
// a MetricStat or an Expression.
type Query struct {
	ID         string      `json:"Id"`
	MetricStat *MetricStat `json:"MetricStat,omitempty"`
	Expression string      `json:"Expression,omitempty"`
	Label      string      `json:"Label,omitempty"`
	ReturnData *bool       `json:"ReturnData,omitempty"`
	Period     int         `json:"Period,omitempty"`
	AccountID  string      `json:"AccountId,omitempty"`
}

func (q Query) returns() bool { return q.ReturnData == nil || *q.ReturnData }

// Result is one MetricDataResult.
type Result struct {
	ID         string
	Label      string
	Timestamps []time.Time
	Values     []float64
	StatusCode string
}

// Error codes of the CloudWatch API (the awsQueryError codes of its
// exception shapes, plus ValidationError).
const (
	CodeValidation            = "ValidationError"
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeInvalidCombination    = "InvalidParameterCombination"
	CodeMissingParameter      = "MissingParameter"
	CodeResourceNotFound      = "ResourceNotFound"
	CodeInvalidFormat         = "InvalidFormat"
	CodeInvalidNextToken      = "InvalidNextToken"
	CodeLimitExceeded         = "LimitExceeded"
)

// Error is a CloudWatch API error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var idRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// Window is the time range and bucketing of an evaluation.
type Window struct {
	Start, End time.Time
	// Width converts a query's period (seconds) into the real bucket width.
	// GetMetricData uses seconds as they are; alarm evaluation divides
	// them by the lab's time scale.
	Width func(period int) time.Duration
}

// grid returns the bucket starts for period: Start, Start+w, ... < End.
// NOTE: CloudWatch aligns buckets to its one-minute storage resolution
// (rounding StartTime down). The lab keeps raw datapoints and buckets from
// StartTime, so a window starting mid-minute holds exactly its own traffic;
// results can only be more precise than AWS's.
func (w Window) grid(period int) []int64 {
	width := w.Width(period)
	if width <= 0 {
		return nil
	}
	var out []int64
	for t := w.Start; t.Before(w.End); t = t.Add(width) {
		out = append(out, t.UnixNano())
	}
	return out
}

// statSeries computes a MetricStat over the window's buckets. Buckets
// without datapoints have no value.
func (s *Store) statSeries(ms MetricStat, w Window) *tseries {
	width := w.Width(ms.Period)
	out := &tseries{period: ms.Period, points: map[int64]float64{}}
	if width <= 0 {
		return out
	}
	buckets := map[int64][]float64{}
	start := w.Start.UnixNano()
	for _, x := range s.values(ms.Metric, w.Start, w.End) {
		k := start + (x.at-start)/int64(width)*int64(width)
		buckets[k] = append(buckets[k], x.v)
	}
	for k, vs := range buckets {
		if v, ok := compute(ms.Stat, vs); ok {
			out.points[k] = v
		}
	}
	return out
}

// validateQueries checks MetricDataQueries like CloudWatch: ids, exactly
// one of MetricStat and Expression, statistics, periods, one ReturnData
// when wantOne.
func validateQueries(qs []Query, member string) *Error {
	if len(qs) == 0 {
		return errorf(CodeMissingParameter, "The parameter %s is required.", member)
	}
	if len(qs) > 500 {
		return errorf(CodeValidation, "The collection %s must not have a size greater than 500.", member)
	}
	seen := map[string]bool{}
	for i, q := range qs {
		at := fmt.Sprintf("%s.member.%d", member, i+1)
		if !idRE.MatchString(q.ID) {
			return errorf(CodeValidation, "The value %s for parameter %s.Id is not valid: it must start with a lowercase letter and contain only letters, numbers and underscores.", q.ID, at)
		}
		if seen[q.ID] {
			return errorf(CodeValidation, "The values for parameter id in %s are not unique.", member)
		}
		seen[q.ID] = true
		if (q.MetricStat == nil) == (q.Expression == "") {
			return errorf(CodeValidation, "Exactly one element of the metrics list (%s) should specify either a MetricStat or an Expression.", at)
		}
		if ms := q.MetricStat; ms != nil {
			if ms.Metric.Namespace == "" || ms.Metric.MetricName == "" {
				return errorf(CodeMissingParameter, "The parameters %s.MetricStat.Metric.Namespace and MetricName are required.", at)
			}
			if !ValidStat(ms.Stat) {
				return errorf(CodeValidation, "The value %s for parameter %s.MetricStat.Stat is not a valid statistic.", ms.Stat, at)
			}
			if err := validPeriod(ms.Period); err != nil {
				return errorf(CodeValidation, "The parameter %s.MetricStat.Period %s.", at, err)
			}
		}
		if q.Expression != "" {
			if _, err := parseExpression(q.Expression); err != nil {
				return errorf(CodeValidation, "Error in expression '%s': %v", q.ID, err)
			}
		}
	}
	return nil
}

// evaluate computes every query over the window and returns the series by
// id (expressions resolved on demand, cycles refused).
func (s *Store) evaluate(qs []Query, w Window) (map[string]value, *Error) {
	byID := map[string]Query{}
	for _, q := range qs {
		byID[q.ID] = q
	}
	done := map[string]value{}
	visiting := map[string]bool{}
	env := &evalEnv{grid: w.grid}
	resolve := func(id string) (value, error) {
		if v, ok := done[id]; ok {
			return v, nil
		}
		q, ok := byID[id]
		if !ok {
			return value{}, fmt.Errorf("unrecognized metric id %q", id)
		}
		if visiting[id] {
			return value{}, fmt.Errorf("circular reference through %q", id)
		}
		visiting[id] = true
		defer delete(visiting, id)
		var v value
		if q.MetricStat != nil {
			v = seriesValue(s.statSeries(*q.MetricStat, w))
		} else {
			n, err := parseExpression(q.Expression)
			if err != nil {
				return value{}, err
			}
			if v, err = env.eval(n); err != nil {
				return value{}, err
			}
		}
		done[id] = v
		return v, nil
	}
	env.resolve = resolve
	for _, q := range qs {
		if _, err := resolve(q.ID); err != nil {
			return nil, errorf(CodeValidation, "Error in expression '%s': %v", q.ID, err)
		}
	}
	return done, nil
}

// asSeries returns a query's value as the time series it must be.
func asSeries(v value, q Query) (*tseries, *Error) {
	if !v.series {
		return nil, errorf(CodeValidation, "Error in expression '%s': the expression does not return a time series", q.ID)
	}
	return v.ts, nil
}

// GetMetricData answers a GetMetricData request over [start, end):
// results for the queries with ReturnData, values newest first unless
// ascending. A metric without datapoints gives an empty result, never
// zeros.
func (s *Store) GetMetricData(qs []Query, start, end time.Time, ascending bool) ([]Result, error) {
	if err := validateQueries(qs, "MetricDataQueries"); err != nil {
		return nil, err
	}
	if !start.Before(end) {
		return nil, errorf(CodeValidation, "The parameter StartTime must be less than the parameter EndTime.")
	}
	w := Window{Start: start, End: end, Width: func(p int) time.Duration { return time.Duration(p) * time.Second }}
	vals, err := s.evaluate(qs, w)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, q := range qs {
		if !q.returns() {
			continue
		}
		t, err := asSeries(vals[q.ID], q)
		if err != nil {
			return nil, err
		}
		r := Result{ID: q.ID, Label: q.Label, StatusCode: "Complete", Timestamps: []time.Time{}, Values: []float64{}}
		if r.Label == "" {
			r.Label = q.ID
			if q.MetricStat != nil {
				r.Label = q.MetricStat.Metric.MetricName
			}
		}
		ks := t.keys()
		if !ascending {
			slices.Reverse(ks)
		}
		for _, k := range ks {
			r.Timestamps = append(r.Timestamps, time.Unix(0, k).UTC())
			r.Values = append(r.Values, t.points[k])
		}
		out = append(out, r)
	}
	return out, nil
}
