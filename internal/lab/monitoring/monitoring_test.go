package monitoring

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alarmevent"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const (
	lbDim   = "app/relay/50dc6c495c0c9188"
	blueDim = "targetgroup/relay-blue/73e2d6bc24d8a067"
)

func tgMetric(name, tg string) Metric {
	return Metric{Namespace: "AWS/ApplicationELB", MetricName: name, Dimensions: []Dimension{{"TargetGroup", tg}, {"LoadBalancer", lbDim}}}
}

func ptr[T any](v T) *T { return &v }

func TestStatisticsAndPercentiles(t *testing.T) {
	s := NewStore(func() time.Time { return t0.Add(time.Hour) }, 3*time.Hour)
	// 100 response times 0.01..1.00 s in the first minute.
	for i := 1; i <= 100; i++ {
		s.Put(tgMetric("TargetResponseTime", blueDim), t0.Add(time.Duration(i)*100*time.Millisecond), float64(i)/100)
	}
	q := func(stat string) Query {
		return Query{ID: "q", MetricStat: &MetricStat{Metric: tgMetric("TargetResponseTime", blueDim), Period: 60, Stat: stat}}
	}
	for stat, want := range map[string]float64{
		"p50": 0.5, "p99": 0.99, "p99.9": 1.0, "p100": 1.0, "p0.5": 0.01, "p90.5": 0.91,
		"Average": 0.505, "Sum": 50.5, "SampleCount": 100, "Minimum": 0.01, "Maximum": 1.0,
	} {
		res, err := s.GetMetricData([]Query{q(stat)}, t0, t0.Add(time.Minute), false)
		if err != nil {
			t.Fatalf("%s: %v", stat, err)
		}
		if len(res[0].Values) != 1 || res[0].Values[0]-want > 1e-9 || want-res[0].Values[0] > 1e-9 {
			t.Errorf("%s = %v, want %v", stat, res[0].Values, want)
		}
	}
	// Dimensions match exactly: the LoadBalancer-only metric is another one.
	lbOnly := Query{ID: "q", MetricStat: &MetricStat{Metric: Metric{Namespace: "AWS/ApplicationELB", MetricName: "TargetResponseTime",
		Dimensions: []Dimension{{"LoadBalancer", lbDim}}}, Period: 60, Stat: "Average"}}
	res, err := s.GetMetricData([]Query{lbOnly}, t0, t0.Add(time.Minute), false)
	if err != nil || len(res[0].Values) != 0 {
		t.Fatalf("LoadBalancer-only query: %+v %v", res, err)
	}
}

func TestGetMetricDataMathAndNoData(t *testing.T) {
	s := NewStore(nil, 3*time.Hour)
	// Minute 0: 100 requests, 5 errors. Minute 1: 50 requests, no errors
	// (so no HTTPCode_Target_5XX_Count datapoint). Minute 2: no traffic.
	for i := range 100 {
		s.Put(tgMetric("RequestCount", blueDim), t0.Add(time.Duration(i)*500*time.Millisecond), 1)
	}
	for i := range 5 {
		s.Put(tgMetric("HTTPCode_Target_5XX_Count", blueDim), t0.Add(time.Duration(i)*time.Second), 1)
	}
	for i := range 50 {
		s.Put(tgMetric("RequestCount", blueDim), t0.Add(time.Minute+time.Duration(i)*time.Second), 1)
	}
	m := func(id, name string) Query {
		return Query{ID: id, ReturnData: ptr(false), MetricStat: &MetricStat{Metric: tgMetric(name, blueDim), Period: 60, Stat: "Sum"}}
	}
	queries := []Query{
		m("mreq", "RequestCount"), m("m5xx", "HTTPCode_Target_5XX_Count"),
		{ID: "rate", Expression: "100 * FILL(m5xx, 0) / mreq", Label: "5xx %"}, // the template's alarm
		{ID: "raw", Expression: "m5xx / mreq * 100"},
		{ID: "filled", Expression: "FILL(m5xx, 0)"},
		{ID: "ok", Expression: "(mreq - FILL(m5xx, 0)) / mreq * 100"},
		{ID: "sum", Expression: "mreq + FILL(m5xx, 0) + 1"},
		{ID: "nested", Expression: "FILL(m5xx / mreq, 7) * 2"},
	}
	res, err := s.GetMetricData(queries, t0, t0.Add(3*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, r := range res {
		got[r.ID] = r.Values
		if r.ID == "rate" && r.Label != "5xx %" {
			t.Errorf("label %q", r.Label)
		}
	}
	want := map[string][]float64{
		"rate":   {5, 0},        // minute 2 has no requests: no datapoint (x/0 is dropped)
		"raw":    {5},           // without FILL the quiet minute disappears
		"filled": {5, 0, 0},     // FILL gives m5xx a value on every bucket of the query
		"ok":     {95, 100},     // parentheses
		"sum":    {106, 51},     // mreq has no datapoint in minute 2
		"nested": {0.1, 14, 14}, // FILL over an expression's series
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// Newest first by default.
	res, _ = s.GetMetricData([]Query{{ID: "r", MetricStat: &MetricStat{Metric: tgMetric("RequestCount", blueDim), Period: 60, Stat: "Sum"}}}, t0, t0.Add(3*time.Minute), false)
	if diff := cmp.Diff([]float64{50, 100}, res[0].Values); diff != "" || !res[0].Timestamps[0].Equal(t0.Add(time.Minute)) {
		t.Fatalf("descending: %v %v", res[0].Values, res[0].Timestamps)
	}
	// No traffic at all: an empty result, not zeros.
	res, err = s.GetMetricData([]Query{{ID: "g", MetricStat: &MetricStat{Metric: tgMetric("RequestCount", "targetgroup/relay-green/1"), Period: 60, Stat: "Sum"}}}, t0, t0.Add(3*time.Minute), false)
	if err != nil || len(res) != 1 || len(res[0].Values) != 0 || res[0].StatusCode != "Complete" {
		t.Fatalf("no data: %+v %v", res, err)
	}
}

func TestGetMetricDataRefusesBadQueries(t *testing.T) {
	s := NewStore(nil, 3*time.Hour)
	ms := &MetricStat{Metric: tgMetric("RequestCount", blueDim), Period: 60, Stat: "Sum"}
	for _, tc := range []struct {
		name string
		qs   []Query
		msg  string
	}{
		{"none", nil, "required"},
		{"bad id", []Query{{ID: "M1", MetricStat: ms}}, "lowercase"},
		{"both", []Query{{ID: "m1", MetricStat: ms, Expression: "1"}}, "either a MetricStat or an Expression"},
		{"bad stat", []Query{{ID: "m1", MetricStat: &MetricStat{Metric: ms.Metric, Period: 60, Stat: "Median"}}}, "not a valid statistic"},
		{"bad period", []Query{{ID: "m1", MetricStat: &MetricStat{Metric: ms.Metric, Period: 45, Stat: "Sum"}}}, "multiple of 60"},
		{"syntax", []Query{{ID: "e1", Expression: "m1 +"}}, "Error in expression 'e1'"},
		{"unknown id", []Query{{ID: "e1", Expression: "m9 * 2"}}, `unrecognized metric id "m9"`},
		{"unsupported function", []Query{{ID: "e1", Expression: "ANOMALY_DETECTION_BAND(m1)"}, {ID: "m1", MetricStat: ms}}, "Error in expression 'e1': function ANOMALY_DETECTION_BAND is not supported"},
		{"IF", []Query{{ID: "e1", Expression: "IF(m1, 1, 0)"}, {ID: "m1", MetricStat: ms}}, "function IF is not supported"},
		{"FILL REPEAT", []Query{{ID: "e1", Expression: "FILL(m1, REPEAT)"}, {ID: "m1", MetricStat: ms}}, `FILL's second argument "REPEAT" is not supported`},
		{"comparison", []Query{{ID: "e1", Expression: "m1 > 0"}, {ID: "m1", MetricStat: ms}}, `'>' is not supported`},
		{"power", []Query{{ID: "e1", Expression: "m1 ^ 2"}, {ID: "m1", MetricStat: ms}}, `'^' is not supported`},
		{"array", []Query{{ID: "e1", Expression: "[m1]"}, {ID: "m1", MetricStat: ms}}, `'[' is not supported`},
		{"unary minus", []Query{{ID: "e1", Expression: "-m1"}, {ID: "m1", MetricStat: ms}}, "unary minus is not supported"},
		{"a constant", []Query{{ID: "e1", Expression: "2 * 50"}}, "does not return a time series"},
		{"cycle", []Query{{ID: "a", Expression: "b"}, {ID: "b", Expression: "a"}}, "circular"},
		{"duplicate", []Query{{ID: "m1", MetricStat: ms}, {ID: "m1", MetricStat: ms}}, "not unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetMetricData(tc.qs, t0, t0.Add(time.Minute), false)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want an error containing %q", err, tc.msg)
			}
		})
	}
	if _, err := s.GetMetricData([]Query{{ID: "m1", MetricStat: ms}}, t0, t0, false); err == nil {
		t.Fatal("StartTime == EndTime accepted")
	}
}

// clock is a settable clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestAlarmEvaluation(t *testing.T) {
	fiveXXRate := AlarmSpec{
		AlarmName: "relayshift-green-5xx-rate", AlarmDescription: "5xx rate of green",
		EvaluationPeriods: 3, DatapointsToAlarm: 2, Threshold: ptr(5.0), ComparisonOperator: "GreaterThanThreshold",
		TreatMissingData: MissingNotBreaching,
		Metrics: []Query{
			{ID: "req", ReturnData: ptr(false), MetricStat: &MetricStat{Metric: tgMetric("RequestCount", blueDim), Period: 60, Stat: "Sum"}},
			{ID: "err", ReturnData: ptr(false), MetricStat: &MetricStat{Metric: tgMetric("HTTPCode_Target_5XX_Count", blueDim), Period: 60, Stat: "Sum"}},
			{ID: "rate", Expression: "FILL(err, 0) / req * 100", Label: "5xx rate", ReturnData: ptr(true)},
		},
	}
	p99 := AlarmSpec{
		AlarmName: "relayshift-green-p99", EvaluationPeriods: 1, Threshold: ptr(1.5), ComparisonOperator: "GreaterThanOrEqualToThreshold",
		Namespace: "AWS/ApplicationELB", MetricName: "TargetResponseTime", Dimensions: tgMetric("", blueDim).Dimensions,
		ExtendedStatistic: "p99", Period: 60,
	}
	type minute struct{ requests, errors, slow int }
	for _, tc := range []struct {
		name    string
		spec    AlarmSpec
		minutes []minute // oldest first, ending now
		want    string
	}{
		{"rate: 2 of 3 breaching", fiveXXRate, []minute{{100, 0, 0}, {100, 10, 0}, {100, 10, 0}}, StateAlarm},
		{"rate: 1 of 3 breaching", fiveXXRate, []minute{{100, 10, 0}, {100, 0, 0}, {100, 0, 0}}, StateOK},
		{"rate: no traffic, notBreaching", fiveXXRate, nil, StateOK},
		{"rate: one datapoint breaching, missing not breaching", fiveXXRate, []minute{{0, 0, 0}, {0, 0, 0}, {100, 50, 0}}, StateOK},
		{"p99 over threshold", p99, []minute{{100, 0, 2}}, StateAlarm},
		{"p99 under threshold", p99, []minute{{100, 0, 0}}, StateOK},
		{"p99 no data, missing", p99, nil, StateInsufficientData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{now: t0}
			s := NewStore(c.Now, 3*time.Hour)
			var changes []StateChange
			a := NewAlarms(s, AlarmsConfig{TimeScale: 1.0 / 60, Now: c.Now, OnChange: func(sc StateChange) { changes = append(changes, sc) }})
			if err := a.Put(tc.spec); err != nil {
				t.Fatal(err)
			}
			// With TimeScale 1/60, a 60-second period is one real second.
			for i, mn := range tc.minutes {
				base := t0.Add(time.Duration(i) * time.Second)
				for r := range mn.requests {
					at := base.Add(time.Duration(r) * time.Millisecond)
					s.Put(tgMetric("RequestCount", blueDim), at, 1)
					trt := 0.1
					if r < mn.slow {
						trt = 2
					}
					s.Put(tgMetric("TargetResponseTime", blueDim), at, trt)
				}
				for r := range mn.errors {
					s.Put(tgMetric("HTTPCode_Target_5XX_Count", blueDim), base.Add(time.Duration(r)*time.Millisecond), 1)
				}
			}
			c.now = t0.Add(time.Duration(tc.spec.EvaluationPeriods) * time.Second)
			if len(tc.minutes) > tc.spec.EvaluationPeriods {
				t.Fatal("fixture longer than the evaluation range")
			}
			a.EvaluateAll()
			got, _ := a.Describe(AlarmFilter{Names: []string{tc.spec.AlarmName}})
			if got[0].State.Value != tc.want {
				t.Fatalf("state %s (%s), want %s", got[0].State.Value, got[0].State.Reason, tc.want)
			}
			if tc.want != StateInsufficientData && (len(changes) != 1 || changes[0].Previous.Value != StateInsufficientData) {
				t.Fatalf("changes: %+v", changes)
			}
			t.Logf("reason: %s", got[0].State.Reason)
		})
	}
}

func TestAlarmTreatMissingData(t *testing.T) {
	// 3 of 3 periods, DatapointsToAlarm 3, one breaching datapoint and two
	// missing: only breaching fills them as bad.
	for tmd, want := range map[string]string{
		MissingBreaching: StateAlarm, MissingNotBreaching: StateOK, MissingMissing: StateOK, MissingIgnore: StateInsufficientData,
	} {
		t.Run(tmd, func(t *testing.T) {
			c := &clock{now: t0}
			s := NewStore(c.Now, 3*time.Hour)
			a := NewAlarms(s, AlarmsConfig{TimeScale: 1.0 / 60, Now: c.Now})
			spec := AlarmSpec{AlarmName: "a", Namespace: "N", MetricName: "M", Statistic: "Sum", Period: 60,
				EvaluationPeriods: 3, Threshold: ptr(1.0), ComparisonOperator: "GreaterThanOrEqualToThreshold", TreatMissingData: tmd}
			if err := a.Put(spec); err != nil {
				t.Fatal(err)
			}
			s.Put(Metric{Namespace: "N", MetricName: "M"}, t0.Add(2500*time.Millisecond), 5)
			c.now = t0.Add(3 * time.Second)
			a.EvaluateAll()
			got, _ := a.Describe(AlarmFilter{})
			if got[0].State.Value != want {
				t.Fatalf("%s: state %s, want %s", tmd, got[0].State.Value, want)
			}
		})
	}
}

func TestSetAlarmStateAndDescribeFilters(t *testing.T) {
	c := &clock{now: t0}
	s := NewStore(c.Now, 3*time.Hour)
	var changes []StateChange
	a := NewAlarms(s, AlarmsConfig{Now: c.Now, OnChange: func(sc StateChange) { changes = append(changes, sc) }})
	for _, n := range []string{"relayshift-blue-5xx", "relayshift-green-5xx", "other"} {
		if err := a.Put(AlarmSpec{AlarmName: n, Namespace: "N", MetricName: "M", Statistic: "Sum", Period: 60, EvaluationPeriods: 1,
			Threshold: ptr(1.0), ComparisonOperator: "GreaterThanThreshold"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetState("relayshift-green-5xx", StateAlarm, "test", `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Alarm.State.Value != StateAlarm || changes[0].Previous.Value != StateInsufficientData {
		t.Fatalf("changes %+v", changes)
	}
	// The same state again is not a transition.
	a.SetState("relayshift-green-5xx", StateAlarm, "again", "")
	if len(changes) != 1 {
		t.Fatalf("repeated state emitted a change: %d", len(changes))
	}
	names := func(f AlarmFilter) []string {
		t.Helper()
		got, err := a.Describe(f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, al := range got {
			out = append(out, al.AlarmName)
		}
		return out
	}
	for _, tc := range []struct {
		f    AlarmFilter
		want []string
	}{
		{AlarmFilter{NamePrefix: "relayshift-"}, []string{"relayshift-blue-5xx", "relayshift-green-5xx"}},
		{AlarmFilter{NamePrefix: "relayshift-", StateValue: StateAlarm}, []string{"relayshift-green-5xx"}},
		{AlarmFilter{Types: []string{"CompositeAlarm"}}, nil},
		{AlarmFilter{Types: []string{"MetricAlarm", "CompositeAlarm"}, Names: []string{"other"}}, []string{"other"}},
	} {
		if diff := cmp.Diff(tc.want, names(tc.f)); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.f, diff)
		}
	}
	for _, err := range []error{
		a.SetState("missing", StateAlarm, "r", ""),
		a.SetState("other", "RED", "r", ""),
		a.SetState("other", StateOK, "r", "{not json"),
		func() error { _, err := a.Describe(AlarmFilter{Names: []string{"a"}, NamePrefix: "b"}); return err }(),
	} {
		if err == nil {
			t.Error("accepted")
		}
	}
	if err := a.SetState("missing", StateAlarm, "r", ""); err.(*Error).Code != CodeResourceNotFound {
		t.Errorf("unknown alarm: %v", err)
	}
}

func TestStateChangeEventMatchesAWSShape(t *testing.T) {
	c := &clock{now: t0}
	s := NewStore(c.Now, 3*time.Hour)
	var changes []StateChange
	a := NewAlarms(s, AlarmsConfig{TimeScale: 1.0 / 60, Now: c.Now, OnChange: func(sc StateChange) { changes = append(changes, sc) }})
	spec := AlarmSpec{AlarmName: "relayshift-green-5xx-rate", AlarmDescription: "Green 5xx rate above 5%",
		EvaluationPeriods: 1, Threshold: ptr(5.0), ComparisonOperator: "GreaterThanThreshold", TreatMissingData: MissingNotBreaching,
		Metrics: []Query{
			{ID: "req", ReturnData: ptr(false), MetricStat: &MetricStat{Metric: tgMetric("RequestCount", blueDim), Period: 60, Stat: "Sum"}},
			{ID: "err", ReturnData: ptr(false), MetricStat: &MetricStat{Metric: tgMetric("HTTPCode_Target_5XX_Count", blueDim), Period: 60, Stat: "Sum"}},
			{ID: "rate", Expression: "FILL(err, 0) / req * 100", Label: "5xx rate"},
		}}
	if err := a.Put(spec); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.Put(tgMetric("RequestCount", blueDim), t0.Add(time.Duration(i)*time.Millisecond), 1)
	}
	s.Put(tgMetric("HTTPCode_Target_5XX_Count", blueDim), t0, 1)
	c.now = t0.Add(time.Second)
	a.EvaluateAll()
	if len(changes) != 1 {
		t.Fatalf("changes: %d", len(changes))
	}
	ev := changes[0].Event()
	ev.ID = "00000000-0000-0000-0000-000000000000"
	var buf bytes.Buffer
	if err := json.Indent(&buf, EventJSON(ev), "", "  "); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden := filepath.Join("testdata", "alarm-state-change.golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), string(got)); diff != "" {
		t.Fatalf("event (-want +got):\n%s", diff)
	}
	// The project's own event type reads it strictly, and sees the change.
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	var back alarmevent.Event
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	ch := back.Change()
	if ch.AlarmName != spec.AlarmName || ch.State.Value != StateAlarm || ch.PreviousState.Value != StateInsufficientData ||
		ch.AlarmARN != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"+spec.AlarmName || ch.Validate() != nil {
		t.Fatalf("change %+v", ch)
	}
	if r, err := ch.State.ParseReason(); err != nil || len(r.RecentDatapoints) != 1 || r.RecentDatapoints[0] != 10 {
		t.Fatalf("reasonData %+v %v", r, err)
	}
	// The keys are those of the documented sample.
	var doc map[string]any
	json.Unmarshal(got, &doc)
	for _, k := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
}

// The store keeps datapoints for its retention, which an alarm extends to
// its own window; late datapoints are kept in time order.
func TestStoreRetentionAndOrder(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	s := NewStore(func() time.Time { return now }, 2*time.Minute)
	m := tgMetric("RequestCount", blueDim)
	for _, at := range []time.Duration{time.Minute, 9 * time.Minute, 9*time.Minute + 30*time.Second, 9*time.Minute + 10*time.Second} {
		s.Put(m, t0.Add(at), float64(at/time.Second))
	}
	got := func(from, to time.Duration) []float64 {
		var out []float64
		for _, x := range s.values(m, t0.Add(from), t0.Add(to)) {
			out = append(out, x.v)
		}
		return out
	}
	// In time order although the last Put came late.
	if diff := cmp.Diff([]float64{540, 550, 570}, got(8*time.Minute, 10*time.Minute)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	s.SetRetention(2 * time.Minute) // prunes what is older than 2 minutes
	if diff := cmp.Diff([]float64{540, 550, 570}, got(0, 10*time.Minute)); diff != "" {
		t.Errorf("after pruning (-want +got):\n%s", diff)
	}
	// An alarm over five 60-second periods at time scale 1 needs six
	// minutes (one period more for the alignment).
	c := &clock{now: now}
	a := NewAlarms(s, AlarmsConfig{TimeScale: 1, Now: c.Now})
	th := 1.0
	if err := a.Put(AlarmSpec{AlarmName: "a", MetricName: "RequestCount", Namespace: "AWS/ApplicationELB", Statistic: "Sum",
		Period: 60, EvaluationPeriods: 5, Threshold: &th, ComparisonOperator: "GreaterThanThreshold"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Retention(); got != 6*time.Minute {
		t.Errorf("retention after the alarm = %v, want 6m", got)
	}
	// A short alarm does not shorten it.
	if err := a.Put(AlarmSpec{AlarmName: "b", MetricName: "RequestCount", Namespace: "AWS/ApplicationELB", Statistic: "Sum",
		Period: 60, EvaluationPeriods: 1, Threshold: &th, ComparisonOperator: "GreaterThanThreshold"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Retention(); got != 6*time.Minute {
		t.Errorf("retention after a short alarm = %v, want 6m", got)
	}
}
