package monitoring

import (
	"bytes"
	"encoding/json"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// The EventBridge event CloudWatch sends on an alarm state change is built
// with the project's own types (internal/alarmevent), shaped as the
// samples of the CloudWatch user guide ("Alarm events and EventBridge"):
// dimensions a JSON map, reasonData a JSON string, timestamps
// "2019-10-02T17:04:40.989+0000".

func eventState(s StateValue) alarmevent.State {
	return alarmevent.State{Value: s.Value, Reason: s.Reason, ReasonData: s.ReasonData, Timestamp: alarmevent.Timestamp{Time: s.Timestamp}}
}

// configuration returns the alarm's configuration as the event carries it.
func (al Alarm) configuration() alarmevent.Configuration {
	cfg := alarmevent.Configuration{Description: al.AlarmDescription, Metrics: []alarmevent.Metric{}}
	qs, _ := al.queries()
	for i, q := range qs {
		m := alarmevent.Metric{ID: q.ID, Expression: q.Expression, Label: q.Label, ReturnData: q.returns(), Period: q.Period}
		if len(al.Metrics) == 0 && i == 0 {
			// NOTE: for a single-metric alarm CloudWatch reports a generated
			// id (a UUID in the documented sample).
			m.ID = uuid.FromName(al.ARN)
		}
		if ms := q.MetricStat; ms != nil {
			dims := map[string]string{}
			for _, d := range ms.Metric.Dimensions {
				dims[d.Name] = d.Value
			}
			m.MetricStat = &alarmevent.MetricStat{
				Metric: alarmevent.MetricName{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: dims},
				Period: ms.Period, Stat: ms.Stat, Unit: ms.Unit,
			}
		}
		cfg.Metrics = append(cfg.Metrics, m)
	}
	return cfg
}

// Event returns the EventBridge "CloudWatch Alarm State Change" event for
// the change.
func (c StateChange) Event() alarmevent.Event {
	prev := eventState(c.Previous)
	return alarmevent.StateChangeEvent(uuid.New(),
		alarmevent.Alarm{Name: c.Alarm.AlarmName, ARN: c.Alarm.ARN, Account: c.Account, Region: c.Region},
		eventState(c.Alarm.State), &prev, c.Alarm.configuration())
}

// EventJSON encodes an event as EventBridge delivers it (no HTML escaping:
// "OK -> ALARM" stays readable).
func EventJSON(e alarmevent.Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic(err) // strings, numbers and times always encode
	}
	return bytes.TrimSpace(b.Bytes())
}
