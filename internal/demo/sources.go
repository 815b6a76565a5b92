package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/rollback"
)

// alarmSource reports the alarms' state transitions.
// NOTE: it polls DescribeAlarms' in-process equivalent; the lab evaluates
// alarms once per minute times the time scale (500 ms at the smallest
// scale the demo accepts), so a transition cannot come and go between two
// polls 200 ms apart. The transition's own timestamp dates the line.
type alarmSource struct {
	alarms *monitoring.Alarms
	last   map[string]string
}

func (a *alarmSource) poll(_ context.Context, now time.Time) []line {
	all, err := a.alarms.Describe(monitoring.AlarmFilter{})
	if err != nil {
		return nil
	}
	if a.last == nil {
		a.last = map[string]string{}
		count := map[string]int{}
		for _, al := range all {
			a.last[al.AlarmName] = al.State.Value
			count[al.State.Value]++
		}
		var states []string
		for _, s := range slices.Sorted(maps.Keys(count)) {
			states = append(states, fmt.Sprintf("%d %s", count[s], s))
		}
		return []line{{at: now, who: "alarm", text: fmt.Sprintf("%d alarms from the template: %s", len(all), strings.Join(states, ", "))}}
	}
	type change struct {
		at       time.Time
		from, to string
	}
	groups := map[change][]monitoring.Alarm{}
	for _, al := range all {
		prev := a.last[al.AlarmName]
		if al.State.Value == prev {
			continue
		}
		a.last[al.AlarmName] = al.State.Value
		c := change{al.StateTransitioned, prev, al.State.Value}
		groups[c] = append(groups[c], al)
	}
	var out []line
	for c, als := range groups {
		from := c.from
		if from == "" {
			from = "(new)"
		}
		if len(als) == 1 {
			al := als[0]
			out = append(out, line{at: c.at, who: "alarm", text: fmt.Sprintf("%s %s -> %s\n%s", al.AlarmName, from, c.to, al.State.Reason)})
			continue
		}
		text := fmt.Sprintf("%d alarms %s -> %s", len(als), from, c.to)
		if len(als) <= 3 {
			var names []string
			for _, al := range als {
				names = append(names, al.AlarmName)
			}
			slices.Sort(names)
			text += ": " + strings.Join(names, ", ")
		}
		out = append(out, line{at: c.at, who: "alarm", text: text})
	}
	return out
}

// deliverySource reports the events EventBridge delivered to the rollback
// function, and what the function answered.
type deliverySource struct {
	bus  *eventbus.Bus
	seen int
}

func (d *deliverySource) poll(context.Context, time.Time) []line {
	all := d.bus.Deliveries()
	fresh := all[d.seen:]
	d.seen = len(all)
	var out []line
	for _, del := range fresh {
		out = append(out, describeDelivery(del)...)
	}
	return out
}

// alarmEventSummary is the part of a "CloudWatch Alarm State Change" event
// the timeline shows.
type alarmEventSummary struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		AlarmName string `json:"alarmName"`
		State     struct {
			Value string `json:"value"`
		} `json:"state"`
		PreviousState struct {
			Value string `json:"value"`
		} `json:"previousState"`
	} `json:"detail"`
}

func describeDelivery(d eventbus.Delivery) []line {
	var ev alarmEventSummary
	what := "an event"
	if json.Unmarshal(d.Event, &ev) == nil && ev.DetailType != "" {
		what = fmt.Sprintf("%q (%s %s -> %s)", ev.DetailType, ev.Detail.AlarmName, ev.Detail.PreviousState.Value, ev.Detail.State.Value)
	}
	out := []line{{at: d.Received, who: "events", text: fmt.Sprintf("EventBridge rule %s matched %s; invoking %s", d.Rule, what, d.Function)}}
	if d.Err != "" {
		return append(out, line{at: d.Delivered, who: "rollback", text: fmt.Sprintf("%s failed after %d attempts: %s", d.Function, d.Attempts, d.Err)})
	}
	var o rollback.Output
	if err := json.Unmarshal(d.Response, &o); err != nil {
		return append(out, line{at: d.Delivered, who: "rollback", text: fmt.Sprintf("%s answered %s", d.Function, clip(string(d.Response), 200))})
	}
	return append(out, line{at: d.Delivered, who: "rollback", text: describeRollback(o, d.Delivered.Sub(d.Received))})
}

// describeRollback renders the rollback function's output.
func describeRollback(o rollback.Output, took time.Duration) string {
	if o.Action != rollback.ActionRestored {
		return fmt.Sprintf("%s: %s", o.Action, o.Reason)
	}
	var parts []string
	if o.Stopped {
		parts = append(parts, "stopped "+o.Deployment)
	} else {
		parts = append(parts, o.Deployment+" had already stopped")
	}
	if o.Changed {
		parts = append(parts, fmt.Sprintf("restored %s (was %s), read back from the listener", o.After, o.Before))
	} else {
		parts = append(parts, fmt.Sprintf("traffic already on the stable colour (%s)", o.After))
	}
	text := fmt.Sprintf("%s rollback: %s; %.1fms in the function", o.Trigger.Kind, strings.Join(parts, ", "), o.ElapsedMs)
	if took > 0 {
		text += fmt.Sprintf(", %s from the event", ms(took))
	}
	for _, w := range o.Warnings {
		text += "\nwarning: " + w
	}
	return text
}

// releases records which version each colour serves since when, to label
// the traffic.
type releases struct {
	mu   sync.Mutex
	list []release
}

type release struct {
	at              time.Time
	colour, version string
}

func (r *releases) set(at time.Time, colour, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, release{at, colour, version})
}

// at returns the version colour served at t ("-" for none).
func (r *releases) at(colour string, t time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := "-"
	for _, x := range r.list {
		if x.colour == colour && !x.at.After(t) {
			v = x.version
		}
	}
	return v
}

// trafficSource reports the load generator's outcomes per period, by the
// colour that served each request (the load balancer's colour header).
type trafficSource struct {
	load     *load
	versions *releases
	period   time.Duration
	// grace lets the requests started near a period's end complete before
	// it is reported.
	grace time.Duration
	next  time.Time // end of the next period to report
}

func (s *trafficSource) poll(_ context.Context, now time.Time) []line {
	var out []line
	var all []loadgen.Outcome
	for !now.Before(s.next.Add(s.grace)) {
		if all == nil {
			all = s.load.outcomes()
		}
		from := s.next.Add(-s.period)
		out = append(out, line{at: s.next, who: "traffic", text: s.describe(loadgen.Between(all, from, s.next), s.next)})
		s.next = s.next.Add(s.period)
	}
	return out
}

func (s *trafficSource) describe(outs []loadgen.Outcome, at time.Time) string {
	by := loadgen.ByColour(outs)
	var parts []string
	for _, c := range []string{"blue", "green"} {
		parts = append(parts, colourStats(c, s.versions.at(c, at), by[c]))
	}
	if st, ok := by[""]; ok {
		parts = append(parts, fmt.Sprintf("no answer: %d", st.Requests))
	}
	return strings.Join(parts, " | ")
}

func colourStats(colour, version string, st loadgen.Stats) string {
	p99 := "-"
	if st.Requests > 0 {
		p99 = ms(st.P99)
	}
	return fmt.Sprintf("%-5s %-3s %4d req %3d failed  p99 %6s", colour, version, st.Requests, st.Failures, p99)
}

// ms renders a duration in milliseconds: 12ms, 0.8ms.
func ms(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	if m >= 10 {
		return fmt.Sprintf("%.0fms", m)
	}
	return fmt.Sprintf("%.1fms", m)
}

// clip puts s on one line and cuts it to n runes.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
