package alarmevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Source is the source of every CloudWatch alarm event, in EventBridge and
// in the direct Lambda action payload.
const Source = "aws.cloudwatch"

// EventBridge detail types CloudWatch alarms emit.
const (
	DetailTypeStateChange         = "CloudWatch Alarm State Change"
	DetailTypeConfigurationChange = "CloudWatch Alarm Configuration Change"
)

// Alarm state values.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Event is an EventBridge event from CloudWatch alarms (detail type
// DetailTypeStateChange, or DetailTypeConfigurationChange).
// NOTE: aws-lambda-go has no typed alarm detail (aws/aws-lambda-go#555),
// only events.CloudWatchEvent with a raw Detail.
type Event struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	// Resources holds the alarm's ARN.
	Resources []string `json:"resources"`
	Detail    Detail   `json:"detail"`
}

// Detail is the detail of an alarm event.
type Detail struct {
	AlarmName string `json:"alarmName"`
	// Operation is set on configuration changes: create, update, delete.
	Operation string `json:"operation,omitempty"`
	State     State  `json:"state"`
	// PreviousState is absent from configuration-change events.
	PreviousState *State        `json:"previousState,omitempty"`
	Configuration Configuration `json:"configuration"`
	// AlarmTags and AlarmTagsStatus are present when the alarm propagates
	// its tags to its events (CloudWatch user guide, "Alarm events and
	// EventBridge").
	AlarmTags       map[string]string `json:"alarmTags,omitempty"`
	AlarmTagsStatus string            `json:"alarmTagsStatus,omitempty"`
}

// ActionPayload is what a CloudWatch alarm sends a Lambda function it
// invokes directly as an alarm action (CloudWatch user guide, "Invoke a
// Lambda function from an alarm").
// NOTE: the invocation is asynchronous and comes from the service
// principal lambda.alarms.cloudwatch.amazonaws.com (same guide).
type ActionPayload struct {
	Source    string    `json:"source"`
	AlarmARN  string    `json:"alarmArn"`
	AccountID string    `json:"accountId"`
	Time      Timestamp `json:"time"`
	Region    string    `json:"region"`
	AlarmData AlarmData `json:"alarmData"`
}

// AlarmData is the alarm part of an ActionPayload.
type AlarmData struct {
	AlarmName     string        `json:"alarmName"`
	State         State         `json:"state"`
	PreviousState *State        `json:"previousState,omitempty"`
	Configuration Configuration `json:"configuration"`
	// AlarmTags and AlarmTagsStatus: as in Detail.
	AlarmTags       map[string]string `json:"alarmTags,omitempty"`
	AlarmTagsStatus string            `json:"alarmTagsStatus,omitempty"`
}

// State is an alarm state: its value, why, and when.
type State struct {
	Value  string `json:"value"`
	Reason string `json:"reason,omitempty"`
	// ReasonData is a JSON document carried as a string; see ParseReason.
	ReasonData string    `json:"reasonData,omitempty"`
	Timestamp  Timestamp `json:"timestamp"`
	// ActionsSuppressedBy (WaitPeriod, ExtensionPeriod, Alarm) and its
	// reason are set on composite alarms whose actions a suppressor alarm
	// holds back.
	ActionsSuppressedBy     string `json:"actionsSuppressedBy,omitempty"`
	ActionsSuppressedReason string `json:"actionsSuppressedReason,omitempty"`
}

// Configuration is the alarm's configuration as the event carries it: the
// metric queries of a metric alarm (single metric, metric math, anomaly
// detection), or the rule of a composite alarm.
type Configuration struct {
	Description string   `json:"description,omitempty"`
	Metrics     []Metric `json:"metrics,omitempty"`
	// AlarmRule and the suppressor fields belong to composite alarms.
	AlarmRule                        string `json:"alarmRule,omitempty"`
	ActionsSuppressor                string `json:"actionsSuppressor,omitempty"`
	ActionsSuppressorWaitPeriod      int    `json:"actionsSuppressorWaitPeriod,omitempty"`
	ActionsSuppressorExtensionPeriod int    `json:"actionsSuppressorExtensionPeriod,omitempty"`
	// The fields below appear on configuration-change events. The action
	// lists are omitzero, not omitempty: AWS sends them as [] and the lab's
	// events must keep them.
	AlarmName               string     `json:"alarmName,omitempty"`
	ActionsEnabled          *bool      `json:"actionsEnabled,omitempty"`
	Timestamp               *Timestamp `json:"timestamp,omitempty"`
	OKActions               []string   `json:"okActions,omitzero"`
	AlarmActions            []string   `json:"alarmActions,omitzero"`
	InsufficientDataActions []string   `json:"insufficientDataActions,omitzero"`
}

// Composite reports whether the configuration is a composite alarm's.
func (c Configuration) Composite() bool { return c.AlarmRule != "" }

// Metric is one metric query of an alarm: either MetricStat or Expression
// is set.
type Metric struct {
	ID         string      `json:"id"`
	MetricStat *MetricStat `json:"metricStat,omitempty"`
	Expression string      `json:"expression,omitempty"`
	Label      string      `json:"label,omitempty"`
	ReturnData bool        `json:"returnData"`
	// Period is set on expressions that carry their own period.
	Period int `json:"period,omitempty"`
}

// MetricStat is a metric, a period and a statistic.
type MetricStat struct {
	Metric MetricName `json:"metric"`
	Period int        `json:"period"`
	Stat   string     `json:"stat"`
	Unit   string     `json:"unit,omitempty"`
}

// MetricName identifies a metric. In alarm events the dimensions are a JSON
// object (name to value), not the API's list of {Name, Value}.
type MetricName struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
}

// TimestampLayout is how alarm events write state timestamps:
// "2019-10-02T17:04:40.989+0000" (milliseconds, offset without a colon).
const TimestampLayout = "2006-01-02T15:04:05.000-0700"

// Timestamp is a time in an alarm event. It reads TimestampLayout (and
// RFC 3339) and writes TimestampLayout in UTC, so an event built by the lab
// looks like one from AWS.
type Timestamp struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alarm timestamp: %w", err)
	}
	for _, layout := range []string{TimestampLayout, time.RFC3339Nano} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("alarm timestamp %q: want %s", s, TimestampLayout)
}

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(TimestampLayout))
}

// Reason is the decoded ReasonData of a state. Metric alarms fill the
// datapoint fields; composite alarms fill TriggeringAlarms.
type Reason struct {
	Version               string      `json:"version,omitempty"`
	QueryDate             *Timestamp  `json:"queryDate,omitempty"`
	StartDate             *Timestamp  `json:"startDate,omitempty"`
	Statistic             string      `json:"statistic,omitempty"`
	Period                int         `json:"period,omitempty"`
	RecentDatapoints      []float64   `json:"recentDatapoints,omitempty"`
	Threshold             *float64    `json:"threshold,omitempty"`
	RecentLowerThresholds []float64   `json:"recentLowerThresholds,omitempty"`
	RecentUpperThresholds []float64   `json:"recentUpperThresholds,omitempty"`
	EvaluatedDatapoints   []Datapoint `json:"evaluatedDatapoints,omitempty"`
	TriggeringAlarms      []Child     `json:"triggeringAlarms,omitempty"`
}

// Datapoint is one evaluated datapoint of a metric alarm.
type Datapoint struct {
	Timestamp   Timestamp `json:"timestamp"`
	SampleCount *float64  `json:"sampleCount,omitempty"`
	Value       *float64  `json:"value,omitempty"`
	Threshold   *float64  `json:"threshold,omitempty"`
}

// Child is an alarm that triggered a composite alarm.
type Child struct {
	ARN   string     `json:"arn"`
	State ChildState `json:"state"`
}

// ChildState is a triggering alarm's state.
type ChildState struct {
	Value     string    `json:"value"`
	Timestamp Timestamp `json:"timestamp"`
}

// ParseReason decodes s.ReasonData. An empty ReasonData gives a zero
// Reason.
func (s State) ParseReason() (Reason, error) {
	var r Reason
	if strings.TrimSpace(s.ReasonData) == "" {
		return r, nil
	}
	if err := json.Unmarshal([]byte(s.ReasonData), &r); err != nil {
		return Reason{}, fmt.Errorf("alarm reasonData: %w", err)
	}
	return r, nil
}

// Change is an alarm state change, whichever way it was delivered.
type Change struct {
	// Via is "eventbridge" or "alarm-action".
	Via           string
	AlarmName     string
	AlarmARN      string
	State         State
	PreviousState *State
	Composite     bool
	Region        string
	Account       string
}

// Delivery channels of a Change.
const (
	ViaEventBridge = "eventbridge"
	ViaAlarmAction = "alarm-action"
)

// Change returns the state change an EventBridge event reports.
func (e Event) Change() Change {
	arn := ""
	for _, r := range e.Resources {
		if strings.Contains(r, ":alarm:") {
			arn = r
			break
		}
	}
	return Change{
		Via: ViaEventBridge, AlarmName: e.Detail.AlarmName, AlarmARN: arn,
		State: e.Detail.State, PreviousState: e.Detail.PreviousState,
		Composite: e.Detail.Configuration.Composite(), Region: e.Region, Account: e.Account,
	}
}

// Change returns the state change a direct alarm action reports.
func (p ActionPayload) Change() Change {
	return Change{
		Via: ViaAlarmAction, AlarmName: p.AlarmData.AlarmName, AlarmARN: p.AlarmARN,
		State: p.AlarmData.State, PreviousState: p.AlarmData.PreviousState,
		Composite: p.AlarmData.Configuration.Composite(), Region: p.Region, Account: p.AccountID,
	}
}

// Validate checks that a change names an alarm and a state.
func (c Change) Validate() error {
	switch {
	case c.AlarmName == "":
		return fmt.Errorf("%s alarm event has no alarm name", c.Via)
	case c.State.Value == "":
		return fmt.Errorf("%s alarm event for %s has no state value", c.Via, c.AlarmName)
	}
	return nil
}

// Alarm identifies an alarm when building events.
type Alarm struct {
	Name    string
	ARN     string
	Account string
	Region  string
}

// StateChangeEvent builds the EventBridge event CloudWatch emits when alarm
// a goes from previous to state, as the local lab delivers it. id is the
// event id (any unique string). The envelope's time is the state's
// timestamp to the second, as in the documented samples.
func StateChangeEvent(id string, a Alarm, state State, previous *State, cfg Configuration) Event {
	return Event{
		Version: "0", ID: id, DetailType: DetailTypeStateChange, Source: Source,
		Account: a.Account, Time: state.Timestamp.UTC().Truncate(time.Second), Region: a.Region,
		Resources: []string{a.ARN},
		Detail:    Detail{AlarmName: a.Name, State: state, PreviousState: previous, Configuration: cfg},
	}
}

// AlarmActionPayload builds the payload a CloudWatch alarm's direct Lambda
// action sends when alarm a goes from previous to state.
func AlarmActionPayload(a Alarm, state State, previous *State, cfg Configuration) ActionPayload {
	return ActionPayload{
		Source: Source, AlarmARN: a.ARN, AccountID: a.Account, Time: state.Timestamp, Region: a.Region,
		AlarmData: AlarmData{AlarmName: a.Name, State: state, PreviousState: previous, Configuration: cfg},
	}
}
