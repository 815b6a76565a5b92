package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// TreatMissingData values.
const (
	MissingMissing      = "missing"
	MissingIgnore       = "ignore"
	MissingBreaching    = "breaching"
	MissingNotBreaching = "notBreaching"
)

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// AlarmSpec is a metric alarm's definition: PutMetricAlarm's input, and
// the properties of an AWS::CloudWatch::Alarm resource (same names).
type AlarmSpec struct {
	AlarmName                        string      `json:"AlarmName"`
	AlarmDescription                 string      `json:"AlarmDescription,omitempty"`
	ActionsEnabled                   *bool       `json:"ActionsEnabled,omitempty"`
	OKActions                        []string    `json:"OKActions,omitempty"`
	AlarmActions                     []string    `json:"AlarmActions,omitempty"`
	InsufficientDataActions          []string    `json:"InsufficientDataActions,omitempty"`
	MetricName                       string      `json:"MetricName,omitempty"`
	Namespace                        string      `json:"Namespace,omitempty"`
	Statistic                        string      `json:"Statistic,omitempty"`
	ExtendedStatistic                string      `json:"ExtendedStatistic,omitempty"`
	Dimensions                       []Dimension `json:"Dimensions,omitempty"`
	Period                           int         `json:"Period,omitempty"`
	Unit                             string      `json:"Unit,omitempty"`
	EvaluationPeriods                int         `json:"EvaluationPeriods"`
	DatapointsToAlarm                int         `json:"DatapointsToAlarm,omitempty"`
	Threshold                        *float64    `json:"Threshold,omitempty"`
	ComparisonOperator               string      `json:"ComparisonOperator"`
	TreatMissingData                 string      `json:"TreatMissingData,omitempty"`
	EvaluateLowSampleCountPercentile string      `json:"EvaluateLowSampleCountPercentile,omitempty"`
	Metrics                          []Query     `json:"Metrics,omitempty"`
	ThresholdMetricID                string      `json:"ThresholdMetricId,omitempty"`
	Tags                             []Tag       `json:"Tags,omitempty"`
}

var comparisons = map[string]string{
	"GreaterThanOrEqualToThreshold": "greater than or equal to",
	"GreaterThanThreshold":          "greater than",
	"LessThanThreshold":             "less than",
	"LessThanOrEqualToThreshold":    "less than or equal to",
}

// Validate checks the definition as PutMetricAlarm does.
func (s AlarmSpec) Validate() error {
	if s.AlarmName == "" || len(s.AlarmName) > 255 {
		return errorf(CodeValidation, "The parameter AlarmName must be 1 to 255 characters long.")
	}
	if s.EvaluationPeriods < 1 {
		return errorf(CodeValidation, "The parameter EvaluationPeriods must be greater than or equal to 1.")
	}
	if s.DatapointsToAlarm < 0 || s.DatapointsToAlarm > s.EvaluationPeriods {
		return errorf(CodeValidation, "DatapointsToAlarm (%d) must be between 1 and EvaluationPeriods (%d).", s.DatapointsToAlarm, s.EvaluationPeriods)
	}
	if s.ThresholdMetricID != "" {
		return errorf(CodeValidation, "anomaly detection alarms (ThresholdMetricId) are not supported by the relayshift lab")
	}
	if _, ok := comparisons[s.ComparisonOperator]; !ok {
		return errorf(CodeValidation, "The value %s for parameter ComparisonOperator is not valid.", s.ComparisonOperator)
	}
	if s.Threshold == nil {
		return errorf(CodeValidation, "The parameter Threshold is required.")
	}
	switch s.TreatMissingData {
	case "", MissingMissing, MissingIgnore, MissingBreaching, MissingNotBreaching:
	default:
		return errorf(CodeValidation, "The value %s for parameter TreatMissingData is not valid.", s.TreatMissingData)
	}
	single := s.MetricName != "" || s.Namespace != "" || s.Statistic != "" || s.ExtendedStatistic != "" || s.Period != 0 || len(s.Dimensions) > 0
	switch {
	case single && len(s.Metrics) > 0:
		return errorf(CodeInvalidCombination, "The parameters MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions and Period cannot be used together with Metrics.")
	case len(s.Metrics) > 0:
		if err := validateQueries(s.Metrics, "Metrics"); err != nil {
			return err
		}
		n := 0
		for _, q := range s.Metrics {
			if q.returns() {
				n++
			}
		}
		if n != 1 {
			return errorf(CodeValidation, "Exactly one element of the metrics list should return data.")
		}
	default:
		if s.MetricName == "" || s.Namespace == "" {
			return errorf(CodeMissingParameter, "The parameters MetricName and Namespace are required.")
		}
		if (s.Statistic == "") == (s.ExtendedStatistic == "") {
			return errorf(CodeInvalidCombination, "Exactly one of the parameters Statistic and ExtendedStatistic must be specified.")
		}
		if s.Statistic != "" && (!ValidStat(s.Statistic) || IsPercentile(s.Statistic)) {
			return errorf(CodeValidation, "The value %s for parameter Statistic is not valid.", s.Statistic)
		}
		if s.ExtendedStatistic != "" && !IsPercentile(s.ExtendedStatistic) {
			return errorf(CodeValidation, "The value %s for parameter ExtendedStatistic is not valid.", s.ExtendedStatistic)
		}
		if err := validPeriod(s.Period); err != nil {
			return errorf(CodeValidation, "The parameter Period %s.", err)
		}
	}
	return nil
}

// queries returns the alarm's metric queries and the id of the one whose
// value is compared to the threshold.
func (s AlarmSpec) queries() ([]Query, string) {
	if len(s.Metrics) > 0 {
		for _, q := range s.Metrics {
			if q.returns() {
				return s.Metrics, q.ID
			}
		}
	}
	stat := s.Statistic
	if stat == "" {
		stat = s.ExtendedStatistic
	}
	return []Query{{ID: "m1", MetricStat: &MetricStat{
		Metric: Metric{Namespace: s.Namespace, MetricName: s.MetricName, Dimensions: s.Dimensions},
		Period: s.Period, Stat: stat, Unit: s.Unit,
	}}}, "m1"
}

// PeriodSeconds is the alarm's period in seconds: the single metric's, or
// the returned query's (its MetricStat's, or its own Period), else the
// first MetricStat's, else 60.
func (s AlarmSpec) PeriodSeconds() int {
	if len(s.Metrics) == 0 {
		return s.Period
	}
	qs, id := s.queries()
	for _, q := range qs {
		if q.ID == id {
			if q.MetricStat != nil {
				return q.MetricStat.Period
			}
			if q.Period != 0 {
				return q.Period
			}
		}
	}
	for _, q := range qs {
		if q.MetricStat != nil {
			return q.MetricStat.Period
		}
	}
	return 60
}

// StateValue is an alarm state with its reason, as DescribeAlarms and
// the state-change event report it.
type StateValue struct {
	Value      string
	Reason     string
	ReasonData string
	Timestamp  time.Time
}

// Alarm is a metric alarm with its state.
type Alarm struct {
	AlarmSpec
	ARN               string
	State             StateValue
	StateTransitioned time.Time
	ConfigUpdated     time.Time
}

// StateChange is one state transition.
type StateChange struct {
	Alarm    Alarm
	Previous StateValue
	Region   string
	Account  string
}

// AlarmsConfig configures the alarm evaluator.
type AlarmsConfig struct {
	Region, AccountID string
	// TimeScale multiplies alarm periods, as the lab's Step Functions
	// engine multiplies Wait durations: with 1/60 a 60-second period lasts
	// one real second (default 1: real time).
	TimeScale float64
	// Interval is how often every alarm is evaluated (default: one minute
	// times TimeScale, as CloudWatch evaluates every minute; at least 50 ms).
	Interval time.Duration
	// OnChange receives every state transition, in order, from the
	// evaluator's goroutine (or SetState's caller).
	OnChange func(StateChange)
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Alarms holds metric alarms and evaluates them against a Store.
type Alarms struct {
	cfg   AlarmsConfig
	store *Store

	mu     sync.Mutex
	alarms map[string]*Alarm
	// emit serialises OnChange calls.
	emit sync.Mutex
}

// NewAlarms returns an evaluator of alarms over store.
func NewAlarms(store *Store, cfg AlarmsConfig) *Alarms {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Duration(float64(time.Minute) * cfg.TimeScale)
	}
	cfg.Interval = max(cfg.Interval, 50*time.Millisecond)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Alarms{cfg: cfg, store: store, alarms: map[string]*Alarm{}}
}

// ARN returns the ARN of the alarm called name.
func (a *Alarms) ARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.cfg.Region, a.cfg.AccountID, name)
}

// Put creates or replaces an alarm. A new alarm starts in
// INSUFFICIENT_DATA; an updated one keeps its state (PutMetricAlarm).
func (a *Alarms) Put(spec AlarmSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	// The store keeps at least what the alarm evaluates (one period more
	// for the bucket alignment).
	a.store.keepAtLeast(time.Duration(float64(spec.EvaluationPeriods+1) * float64(spec.PeriodSeconds()) * float64(time.Second) * a.cfg.TimeScale))
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.alarms[spec.AlarmName]; ok {
		old.AlarmSpec = spec
		old.ConfigUpdated = now
		return nil
	}
	a.alarms[spec.AlarmName] = &Alarm{
		AlarmSpec: spec, ARN: a.ARN(spec.AlarmName),
		State:             StateValue{Value: StateInsufficientData, Reason: "Unchecked: Initial alarm creation", Timestamp: now},
		StateTransitioned: now, ConfigUpdated: now,
	}
	return nil
}

// AlarmFilter selects alarms as DescribeAlarms does.
type AlarmFilter struct {
	Names      []string
	NamePrefix string
	StateValue string
	// Types lists MetricAlarm and/or CompositeAlarm; empty means
	// MetricAlarm only, as CloudWatch does.
	Types []string
	// ActionPrefix keeps alarms with an action starting with it.
	ActionPrefix string
}

// Describe returns the alarms matching f, sorted by name.
func (a *Alarms) Describe(f AlarmFilter) ([]Alarm, error) {
	if len(f.Names) > 0 && f.NamePrefix != "" {
		return nil, errorf(CodeInvalidCombination, "AlarmNamePrefix and AlarmNames cannot be specified together.")
	}
	switch f.StateValue {
	case "", StateOK, StateAlarm, StateInsufficientData:
	default:
		return nil, errorf(CodeValidation, "The value %s for parameter StateValue is not valid.", f.StateValue)
	}
	metric := len(f.Types) == 0
	for _, t := range f.Types {
		switch t {
		case "MetricAlarm":
			metric = true
		case "CompositeAlarm":
		default:
			return nil, errorf(CodeValidation, "The value %s for parameter AlarmTypes is not valid.", t)
		}
	}
	if !metric {
		return []Alarm{}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []Alarm{}
	for _, name := range slices.Sorted(maps.Keys(a.alarms)) {
		al := a.alarms[name]
		switch {
		case len(f.Names) > 0 && !slices.Contains(f.Names, name),
			!strings.HasPrefix(name, f.NamePrefix),
			f.StateValue != "" && al.State.Value != f.StateValue:
			continue
		}
		if f.ActionPrefix != "" && !slices.ContainsFunc(slices.Concat(al.AlarmActions, al.OKActions, al.InsufficientDataActions),
			func(s string) bool { return strings.HasPrefix(s, f.ActionPrefix) }) {
			continue
		}
		out = append(out, *al)
	}
	return out, nil
}

// SetState sets an alarm's state, as SetAlarmState does: the next
// evaluation may set it back.
func (a *Alarms) SetState(name, value, reason, reasonData string) error {
	switch value {
	case StateOK, StateAlarm, StateInsufficientData:
	default:
		return errorf(CodeValidation, "The value %s for parameter StateValue is not valid.", value)
	}
	if reason == "" {
		return errorf(CodeMissingParameter, "The parameter StateReason is required.")
	}
	if reasonData != "" && !json.Valid([]byte(reasonData)) {
		return errorf(CodeInvalidFormat, "StateReasonData is not valid JSON.")
	}
	a.emit.Lock()
	defer a.emit.Unlock()
	a.mu.Lock()
	al, ok := a.alarms[name]
	if !ok {
		a.mu.Unlock()
		return errorf(CodeResourceNotFound, "Alarm %s not found", name)
	}
	change := a.transitionLocked(al, StateValue{Value: value, Reason: reason, ReasonData: reasonData, Timestamp: a.cfg.Now()})
	a.mu.Unlock()
	if change != nil && a.cfg.OnChange != nil {
		a.cfg.OnChange(*change)
	}
	return nil
}

// transitionLocked moves al to next and returns the change, or nil when
// the state value is unchanged (then only the reason is refreshed).
func (a *Alarms) transitionLocked(al *Alarm, next StateValue) *StateChange {
	prev := al.State
	al.State = next
	if prev.Value == next.Value {
		return nil
	}
	al.StateTransitioned = next.Timestamp
	a.cfg.Log.Info("alarm state changed", "alarm", al.AlarmName, "from", prev.Value, "to", next.Value, "reason", next.Reason)
	return &StateChange{Alarm: *al, Previous: prev, Region: a.cfg.Region, Account: a.cfg.AccountID}
}

// Run evaluates every alarm each Interval until ctx ends.
func (a *Alarms) Run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		a.EvaluateAll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EvaluateAll evaluates every alarm once, at the clock's now.
func (a *Alarms) EvaluateAll() {
	a.emit.Lock()
	defer a.emit.Unlock()
	now := a.cfg.Now()
	a.mu.Lock()
	var changes []StateChange
	for _, name := range slices.Sorted(maps.Keys(a.alarms)) {
		al := a.alarms[name]
		next := a.evaluate(al.AlarmSpec, al.State, now)
		if c := a.transitionLocked(al, next); c != nil {
			changes = append(changes, *c)
		}
	}
	a.mu.Unlock()
	if a.cfg.OnChange != nil {
		for _, c := range changes {
			a.cfg.OnChange(c)
		}
	}
}

type datapoint struct {
	at    time.Time
	value float64
	ok    bool
}

// evaluate computes an alarm's state at now over its last
// EvaluationPeriods periods (each lasting Period×TimeScale), ending at now.
// NOTE: CloudWatch's rule, applied here: when at least DatapointsToAlarm
// datapoints exist in the range, only those are evaluated and
// TreatMissingData does not matter; with fewer, missing datapoints are
// filled according to TreatMissingData (breaching, notBreaching; ignore
// keeps the state; missing goes to INSUFFICIENT_DATA only when every
// datapoint is missing) — "Configuring how CloudWatch alarms treat missing
// data". CloudWatch also looks back beyond the range for sparse metrics;
// the lab does not.
func (a *Alarms) evaluate(s AlarmSpec, current StateValue, now time.Time) StateValue {
	n := s.EvaluationPeriods
	m := s.DatapointsToAlarm
	if m == 0 {
		m = n
	}
	period := s.PeriodSeconds()
	width := time.Duration(float64(period) * float64(time.Second) * a.cfg.TimeScale)
	w := Window{Start: now.Add(-time.Duration(n) * width), End: now, Width: func(p int) time.Duration {
		return time.Duration(float64(p) * float64(time.Second) * a.cfg.TimeScale)
	}}
	qs, id := s.queries()
	vals, err := a.store.evaluate(qs, w)
	var t *tseries
	if err == nil {
		t, err = asSeries(vals[id], Query{ID: id})
	}
	if err != nil {
		return StateValue{Value: StateInsufficientData, Reason: "Unchecked: " + err.Message, Timestamp: now}
	}
	// Newest first, as CloudWatch lists them.
	var dps []datapoint
	for i := n - 1; i >= 0; i-- {
		at := w.Start.Add(time.Duration(i) * width)
		v, ok := t.points[at.UnixNano()]
		dps = append(dps, datapoint{at: at, value: v, ok: ok})
	}
	breaches := func(v float64) bool {
		th := *s.Threshold
		switch s.ComparisonOperator {
		case "GreaterThanOrEqualToThreshold":
			return v >= th
		case "GreaterThanThreshold":
			return v > th
		case "LessThanThreshold":
			return v < th
		case "LessThanOrEqualToThreshold":
			return v <= th
		}
		return false
	}
	present, breaching := 0, 0
	for _, d := range dps {
		if d.ok {
			present++
			if breaches(d.value) {
				breaching++
			}
		}
	}
	tmd := s.TreatMissingData
	if tmd == "" {
		tmd = MissingMissing
	}
	var state string
	switch {
	case present >= m:
		state = pick(breaching >= m, StateAlarm, StateOK)
	case present == 0 && tmd == MissingMissing:
		state = StateInsufficientData
	case tmd == MissingIgnore:
		if breaching >= m {
			state = StateAlarm
		} else {
			state = current.Value
		}
	case tmd == MissingBreaching:
		state = pick(breaching+(n-present) >= m, StateAlarm, StateOK)
	default: // notBreaching, or missing with some datapoints
		state = pick(breaching >= m, StateAlarm, StateOK)
	}
	if state == current.Value {
		current.Timestamp = now
		return current
	}
	return StateValue{Value: state, Reason: a.reason(s, state, dps, n, m, breaches), ReasonData: a.reasonData(s, w, dps, now, period), Timestamp: now}
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// javaDouble formats like Java's Double.toString, which CloudWatch's
// reasons use: 50.0, 0.0666851903306472.
func javaDouble(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") && !math.IsInf(f, 0) && !math.IsNaN(f) {
		s += ".0"
	}
	return s
}

func (a *Alarms) reason(s AlarmSpec, state string, dps []datapoint, n, m int, breaches func(float64) bool) string {
	plural := func(k int, one, many string) string {
		if k == 1 {
			return one
		}
		return many
	}
	if state == StateInsufficientData {
		missing := 0
		for _, d := range dps {
			if !d.ok {
				missing++
			}
		}
		return fmt.Sprintf("Insufficient Data: %d %s %s unknown.", missing, plural(missing, "datapoint", "datapoints"), plural(missing, "was", "were"))
	}
	present := 0
	for _, d := range dps {
		if d.ok {
			present++
		}
	}
	if present == 0 {
		treated := "NonBreaching"
		if s.TreatMissingData == MissingBreaching {
			treated = "Breaching"
		}
		return fmt.Sprintf("Threshold Crossed: no datapoints were received for %d %s and %d missing %s %s treated as [%s].",
			n, plural(n, "period", "periods"), n, plural(n, "datapoint", "datapoints"), plural(n, "was", "were"), treated)
	}
	var listed []string
	for _, d := range dps {
		if d.ok && breaches(d.value) == (state == StateAlarm) {
			listed = append(listed, fmt.Sprintf("%s (%s)", javaDouble(d.value), d.at.UTC().Format("02/01/06 15:04:05")))
		}
	}
	phrase := comparisons[s.ComparisonOperator]
	if state == StateOK {
		phrase = "not " + phrase
	}
	transition := "OK -> ALARM"
	if state == StateOK {
		transition = "ALARM -> OK"
	}
	return fmt.Sprintf("Threshold Crossed: %d out of the last %d %s [%s] %s %s the threshold (%s) (minimum %d %s for %s transition).",
		len(listed), n, "datapoints", strings.Join(listed, ", "), plural(len(listed), "was", "were"),
		phrase, javaDouble(*s.Threshold), m, plural(m, "datapoint", "datapoints"), transition)
}

// cwTime is CloudWatch's timestamp format in reasonData and events:
// 2019-10-02T17:04:40.985+0000.
const cwTime = "2006-01-02T15:04:05.000-0700"

func (a *Alarms) reasonData(s AlarmSpec, w Window, dps []datapoint, now time.Time, period int) string {
	type evaluated struct {
		Timestamp string   `json:"timestamp"`
		Value     *float64 `json:"value,omitempty"`
	}
	rd := struct {
		Version             string      `json:"version"`
		QueryDate           string      `json:"queryDate"`
		StartDate           string      `json:"startDate"`
		Statistic           string      `json:"statistic,omitempty"`
		Unit                string      `json:"unit,omitempty"`
		Period              int         `json:"period"`
		RecentDatapoints    []float64   `json:"recentDatapoints"`
		Threshold           float64     `json:"threshold"`
		EvaluatedDatapoints []evaluated `json:"evaluatedDatapoints"`
	}{
		Version: "1.0", QueryDate: now.UTC().Format(cwTime), StartDate: w.Start.UTC().Format(cwTime),
		Statistic: s.Statistic, Unit: s.Unit, Period: period, Threshold: *s.Threshold,
		RecentDatapoints: []float64{},
	}
	if rd.Statistic == "" {
		rd.Statistic = s.ExtendedStatistic
	}
	for i := len(dps) - 1; i >= 0; i-- {
		if dps[i].ok {
			rd.RecentDatapoints = append(rd.RecentDatapoints, dps[i].value)
		}
	}
	for _, d := range dps {
		e := evaluated{Timestamp: d.at.UTC().Format(cwTime)}
		if d.ok {
			v := d.value
			e.Value = &v
		}
		rd.EvaluatedDatapoints = append(rd.EvaluatedDatapoints, e)
	}
	b, _ := json.Marshal(rd)
	return string(b)
}
