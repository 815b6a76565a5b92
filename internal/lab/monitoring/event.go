package monitoring

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The EventBridge event CloudWatch sends on an alarm state change, shaped
// as the samples of the CloudWatch user guide ("Alarm events and
// EventBridge"): dimensions are a JSON map, reasonData a JSON string,
// timestamps "2019-10-02T17:04:40.989+0000".

// Event is the "CloudWatch Alarm State Change" event.
type Event struct {
	Version    string      `json:"version"`
	ID         string      `json:"id"`
	DetailType string      `json:"detail-type"`
	Source     string      `json:"source"`
	Account    string      `json:"account"`
	Time       string      `json:"time"`
	Region     string      `json:"region"`
	Resources  []string    `json:"resources"`
	Detail     EventDetail `json:"detail"`
}

// EventDetail is the event's detail.
type EventDetail struct {
	AlarmName     string             `json:"alarmName"`
	State         EventState         `json:"state"`
	PreviousState EventState         `json:"previousState"`
	Configuration EventConfiguration `json:"configuration"`
}

// EventState is a state in the event.
type EventState struct {
	Value      string `json:"value"`
	Reason     string `json:"reason"`
	ReasonData string `json:"reasonData,omitempty"`
	Timestamp  string `json:"timestamp"`
}

// EventConfiguration is the alarm's configuration in the event.
type EventConfiguration struct {
	Description string        `json:"description,omitempty"`
	Metrics     []EventMetric `json:"metrics"`
}

// EventMetric is one metric of the configuration.
type EventMetric struct {
	ID         string           `json:"id"`
	MetricStat *EventMetricStat `json:"metricStat,omitempty"`
	Expression string           `json:"expression,omitempty"`
	Label      string           `json:"label,omitempty"`
	ReturnData bool             `json:"returnData"`
}

// EventMetricStat is a metric and statistic in the event.
type EventMetricStat struct {
	Metric struct {
		Dimensions map[string]string `json:"dimensions"`
		Name       string            `json:"name"`
		Namespace  string            `json:"namespace"`
	} `json:"metric"`
	Period int    `json:"period"`
	Stat   string `json:"stat"`
	Unit   string `json:"unit,omitempty"`
}

func eventState(s StateValue) EventState {
	return EventState{Value: s.Value, Reason: s.Reason, ReasonData: s.ReasonData, Timestamp: s.Timestamp.UTC().Format(cwTime)}
}

// Event returns the EventBridge event for the change.
func (c StateChange) Event() Event {
	al := c.Alarm
	ev := Event{
		Version: "0", ID: newEventID(), DetailType: "CloudWatch Alarm State Change", Source: "aws.cloudwatch",
		Account: c.Account, Region: c.Region, Time: al.State.Timestamp.UTC().Format(time.RFC3339),
		Resources: []string{al.ARN},
		Detail: EventDetail{
			AlarmName: al.AlarmName, State: eventState(al.State), PreviousState: eventState(c.Previous),
			Configuration: EventConfiguration{Description: al.AlarmDescription, Metrics: []EventMetric{}},
		},
	}
	qs, _ := al.queries()
	for i, q := range qs {
		em := EventMetric{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: q.returns()}
		if len(al.Metrics) == 0 && i == 0 {
			// NOTE: for a single-metric alarm CloudWatch reports a generated
			// id (a UUID in the documented sample).
			em.ID = stableUUID(al.ARN)
		}
		if ms := q.MetricStat; ms != nil {
			st := &EventMetricStat{Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit}
			st.Metric.Name, st.Metric.Namespace = ms.Metric.MetricName, ms.Metric.Namespace
			st.Metric.Dimensions = map[string]string{}
			for _, d := range ms.Metric.Dimensions {
				st.Metric.Dimensions[d.Name] = d.Value
			}
			em.MetricStat = st
		}
		ev.Detail.Configuration.Metrics = append(ev.Detail.Configuration.Metrics, em)
	}
	return ev
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return formatUUID(b[:])
}

func stableUUID(s string) string {
	h := sha256.Sum256([]byte(s))
	return formatUUID(h[:16])
}

// JSON encodes the event as EventBridge delivers it (no HTML escaping:
// "OK -> ALARM" stays readable).
func (e Event) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic(err) // plain strings and numbers always encode
	}
	return bytes.TrimSpace(b.Bytes())
}
