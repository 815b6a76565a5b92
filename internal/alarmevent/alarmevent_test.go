package alarmevent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alarmevent"
)

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrict decodes b into v rejecting unknown fields, which proves the
// types cover every field AWS documents.
func decodeStrict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

// sameJSON fails unless a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(va, vb); diff != "" {
		t.Fatalf("JSON differs (-sample +re-encoded):\n%s", diff)
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(alarmevent.TimestampLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSamplesDecodeAndRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		file       string
		detailType string // empty for the Lambda action payload
		want       alarmevent.Change
		stateAt    time.Time
	}{
		{
			file: "eventbridge-single-metric.json", detailType: alarmevent.DetailTypeStateChange,
			want: alarmevent.Change{Via: "eventbridge", AlarmName: "ServerCpuTooHigh",
				AlarmARN: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh", Region: "us-east-1", Account: "123456789012"},
			stateAt: ts("2019-10-02T17:04:40.989+0000"),
		},
		{
			file: "eventbridge-metric-math.json", detailType: alarmevent.DetailTypeStateChange,
			want: alarmevent.Change{Via: "eventbridge", AlarmName: "TotalNetworkTrafficTooHigh",
				AlarmARN: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TotalNetworkTrafficTooHigh", Region: "us-east-1", Account: "123456789012"},
			stateAt: ts("2019-10-02T17:20:48.554+0000"),
		},
		{
			file: "eventbridge-anomaly-detection.json", detailType: alarmevent.DetailTypeStateChange,
			want: alarmevent.Change{Via: "eventbridge", AlarmName: "EC2 CPU Utilization Anomaly",
				AlarmARN: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EC2 CPU Utilization Anomaly", Region: "us-east-1", Account: "123456789012"},
			stateAt: ts("2019-10-03T16:00:04.653+0000"),
		},
		{
			file: "eventbridge-composite.json", detailType: alarmevent.DetailTypeStateChange,
			want: alarmevent.Change{Via: "eventbridge", AlarmName: "ServiceAggregatedAlarm", Composite: true,
				AlarmARN: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceAggregatedAlarm", Region: "us-east-1", Account: "123456789012"},
			stateAt: ts("2022-07-22T15:57:45.394+0000"),
		},
		{
			file: "eventbridge-composite-configuration-change.json", detailType: alarmevent.DetailTypeConfigurationChange,
			want: alarmevent.Change{Via: "eventbridge", AlarmName: "ServiceAggregatedAlarm", Composite: true,
				AlarmARN: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServiceAggregatedAlarm", Region: "us-east-1", Account: "123456789012"},
			stateAt: ts("2022-03-03T17:06:22.289+0000"),
		},
		{
			file: "lambda-action-metric.json",
			want: alarmevent.Change{Via: "alarm-action", AlarmName: "lambda-demo-metric-alarm",
				AlarmARN: "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm", Region: "us-east-1", Account: "444455556666"},
			stateAt: ts("2023-08-04T12:36:15.490+0000"),
		},
		{
			file: "lambda-action-composite.json",
			want: alarmevent.Change{Via: "alarm-action", AlarmName: "CompositeDemo.Main", Composite: true,
				AlarmARN: "arn:aws:cloudwatch:us-east-1:111122223333:alarm:SuppressionDemo.Main", Region: "us-east-1", Account: "111122223333"},
			stateAt: ts("2023-08-04T12:56:46.138+0000"),
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := readSample(t, tc.file)
			var (
				got     alarmevent.Change
				encoded []byte
				err     error
			)
			if tc.detailType != "" {
				var e alarmevent.Event
				decodeStrict(t, b, &e)
				if e.DetailType != tc.detailType || e.Source != alarmevent.Source {
					t.Fatalf("detail-type %q source %q", e.DetailType, e.Source)
				}
				got = e.Change()
				encoded, err = json.Marshal(e)
			} else {
				var p alarmevent.ActionPayload
				decodeStrict(t, b, &p)
				if p.Source != alarmevent.Source {
					t.Fatalf("source %q", p.Source)
				}
				got = p.Change()
				encoded, err = json.Marshal(p)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The lab builds events with these types: what it marshals
			// must be what AWS sends.
			sameJSON(t, b, encoded)

			if !got.State.Timestamp.Equal(tc.stateAt) {
				t.Errorf("state timestamp %s, want %s", got.State.Timestamp, tc.stateAt)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
			if _, err := got.State.ParseReason(); err != nil {
				t.Errorf("state reason: %v", err)
			}
			if got.PreviousState != nil {
				if _, err := got.PreviousState.ParseReason(); err != nil {
					t.Errorf("previous state reason: %v", err)
				}
			}
			got.State, got.PreviousState = alarmevent.State{}, nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("change (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReason(t *testing.T) {
	var single alarmevent.Event
	decodeStrict(t, readSample(t, "eventbridge-single-metric.json"), &single)
	r, err := single.Detail.State.ParseReason()
	if err != nil {
		t.Fatal(err)
	}
	if r.Statistic != "Average" || r.Period != 300 || r.Threshold == nil || *r.Threshold != 50 ||
		len(r.RecentDatapoints) != 1 || r.RecentDatapoints[0] != 99.50160229693434 {
		t.Errorf("single metric reason: %+v", r)
	}

	var composite alarmevent.Event
	decodeStrict(t, readSample(t, "eventbridge-composite.json"), &composite)
	r, err = composite.Detail.State.ParseReason()
	if err != nil {
		t.Fatal(err)
	}
	want := []alarmevent.Child{{
		ARN:   "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh",
		State: alarmevent.ChildState{Value: "ALARM", Timestamp: alarmevent.Timestamp{Time: ts("2022-07-22T15:57:45.394+0000")}},
	}}
	if diff := cmp.Diff(want, r.TriggeringAlarms); diff != "" {
		t.Errorf("triggering alarms (-want +got):\n%s", diff)
	}

	var action alarmevent.ActionPayload
	decodeStrict(t, readSample(t, "lambda-action-metric.json"), &action)
	r, err = action.AlarmData.PreviousState.ParseReason()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.EvaluatedDatapoints) != 5 || r.EvaluatedDatapoints[0].Value != nil {
		t.Errorf("evaluated datapoints: %+v", r.EvaluatedDatapoints)
	}

	if _, err := (alarmevent.State{ReasonData: "{not json"}).ParseReason(); err == nil {
		t.Error("garbled reasonData parsed")
	}
}

func TestTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: `"2019-10-02T17:04:40.989+0000"`, want: time.Date(2019, 10, 2, 17, 4, 40, 989e6, time.UTC)},
		{in: `"2019-10-02T19:04:40.989+0200"`, want: time.Date(2019, 10, 2, 17, 4, 40, 989e6, time.UTC)},
		{in: `"2019-10-02T17:04:40Z"`, want: time.Date(2019, 10, 2, 17, 4, 40, 0, time.UTC)},
		{in: `null`},
		{in: `"yesterday"`, wantErr: true},
		{in: `12`, wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got alarmevent.Timestamp
			err := json.Unmarshal([]byte(tc.in), &got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got.Time, tc.want)
			}
		})
	}
	b, err := json.Marshal(alarmevent.Timestamp{Time: time.Date(2026, 11, 27, 10, 0, 1, 5e6, time.FixedZone("x", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-11-27T09:00:01.005+0000"` {
		t.Fatalf("marshal: %s", b)
	}
}

func TestChangeValidate(t *testing.T) {
	if err := (alarmevent.Change{Via: "eventbridge", State: alarmevent.State{Value: "ALARM"}}).Validate(); err == nil {
		t.Error("a change without an alarm name validated")
	}
	if err := (alarmevent.Change{Via: "eventbridge", AlarmName: "x"}).Validate(); err == nil {
		t.Error("a change without a state validated")
	}
}

// TestBuildersMatchTheSamples: events built with the constructors, from
// the documented samples' parts, marshal to the documented JSON.
func TestBuildersMatchTheSamples(t *testing.T) {
	var e alarmevent.Event
	raw := readSample(t, "eventbridge-single-metric.json")
	decodeStrict(t, raw, &e)
	built := alarmevent.StateChangeEvent(e.ID,
		alarmevent.Alarm{Name: e.Detail.AlarmName, ARN: e.Resources[0], Account: e.Account, Region: e.Region},
		e.Detail.State, e.Detail.PreviousState, e.Detail.Configuration)
	b, err := json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, raw, b)

	var p alarmevent.ActionPayload
	raw = readSample(t, "lambda-action-composite.json")
	decodeStrict(t, raw, &p)
	builtP := alarmevent.AlarmActionPayload(
		alarmevent.Alarm{Name: p.AlarmData.AlarmName, ARN: p.AlarmARN, Account: p.AccountID, Region: p.Region},
		p.AlarmData.State, p.AlarmData.PreviousState, p.AlarmData.Configuration)
	if b, err = json.Marshal(builtP); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, raw, b)
}
