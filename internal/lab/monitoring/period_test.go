package monitoring

import "testing"

func TestPeriodSeconds(t *testing.T) {
	no := false
	stat := func(id string, period int) Query {
		return Query{ID: id, MetricStat: &MetricStat{Metric: Metric{Namespace: "AWS/ApplicationELB", MetricName: "RequestCount"}, Period: period, Stat: "Sum"}, ReturnData: &no}
	}
	returned := func(q Query) Query { q.ReturnData = nil; return q }
	for _, tc := range []struct {
		name string
		spec AlarmSpec
		want int
	}{
		{"a single metric", AlarmSpec{MetricName: "RequestCount", Namespace: "AWS/ApplicationELB", Statistic: "Sum", Period: 300}, 300},
		{"metric math: the returned expression has no period, the first MetricStat's",
			AlarmSpec{Metrics: []Query{stat("m5xx", 60), stat("mreq", 120), returned(Query{ID: "e1", Expression: "m5xx/mreq*100"})}}, 60},
		{"the returned query is a MetricStat", AlarmSpec{Metrics: []Query{stat("m1", 60), returned(stat("m2", 120))}}, 120},
		{"the returned expression has its own period", AlarmSpec{Metrics: []Query{stat("m1", 60), returned(Query{ID: "e1", Expression: "m1*2", Period: 300})}}, 300},
		{"no MetricStat at all", AlarmSpec{Metrics: []Query{returned(Query{ID: "e1", Expression: "TIME_SERIES(1)"})}}, 60},
	} {
		if got := tc.spec.PeriodSeconds(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
