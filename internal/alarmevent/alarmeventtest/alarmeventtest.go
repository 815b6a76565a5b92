// Package alarmeventtest gives tests the AWS-documented alarm event samples
// kept in internal/alarmevent/testdata, and a way to aim them at another
// alarm or state, built with the alarmevent types as the lab builds events.
package alarmeventtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/relayshift/relayshift/internal/alarmevent"
)

// Samples lists the documented samples a rollback can be triggered by: the
// EventBridge state-change events and the direct alarm-action payloads.
func Samples() []string {
	return []string{
		"eventbridge-single-metric.json",
		"eventbridge-metric-math.json",
		"eventbridge-anomaly-detection.json",
		"eventbridge-composite.json",
		"lambda-action-metric.json",
		"lambda-action-composite.json",
	}
}

// Sample returns the sample file called name.
func Sample(t testing.TB, name string) []byte {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("alarmeventtest: cannot locate the samples")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WithAlarm returns sample b with the alarm renamed and its state set; an
// empty name or state keeps the sample's.
func WithAlarm(t testing.TB, b []byte, name, state string) []byte {
	t.Helper()
	var probe struct {
		AlarmData json.RawMessage `json:"alarmData"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatal(err)
	}
	set := func(alarm, value *string) {
		if name != "" {
			*alarm = name
		}
		if state != "" {
			*value = state
		}
	}
	var v any
	if probe.AlarmData != nil {
		var p alarmevent.ActionPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		set(&p.AlarmData.AlarmName, &p.AlarmData.State.Value)
		v = p
	} else {
		var e alarmevent.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		set(&e.Detail.AlarmName, &e.Detail.State.Value)
		v = e
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
