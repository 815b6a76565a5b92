package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// rollbackPattern is the pattern of the template's rollback rule, as
// samtemplate resolves it (YAML lists and maps).
func rollbackPattern(prefix string) map[string]any {
	return map[string]any{
		"source":      []any{"aws.cloudwatch"},
		"detail-type": []any{"CloudWatch Alarm State Change"},
		"detail": map[string]any{
			"alarmName": []any{map[string]any{"prefix": prefix}},
			"state":     map[string]any{"value": []any{"ALARM"}},
		},
	}
}

func sample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "alarmevent", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func set(m map[string]any, path string, v any) map[string]any {
	parts := strings.Split(path, ".")
	cur := m
	for _, p := range parts[:len(parts)-1] {
		cur = cur[p].(map[string]any)
	}
	cur[parts[len(parts)-1]] = v
	return m
}

// The documented AWS samples against the template's rollback rule.
func TestRollbackRuleOnDocumentedSamples(t *testing.T) {
	p, err := Compile(rollbackPattern("relay-"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		event map[string]any
		want  bool
	}{
		{"single metric, pipeline alarm, ALARM", set(sample(t, "eventbridge-single-metric.json"), "detail.alarmName", "relay-green-5xx-rate"), true},
		{"metric math, pipeline alarm, ALARM", set(sample(t, "eventbridge-metric-math.json"), "detail.alarmName", "relay-green-p99-latency"), true},
		{"sample as documented: foreign alarm name", sample(t, "eventbridge-single-metric.json"), false},
		{"pipeline alarm back to OK", set(set(sample(t, "eventbridge-single-metric.json"), "detail.alarmName", "relay-x"), "detail.state.value", "OK"), false},
		{"INSUFFICIENT_DATA", set(set(sample(t, "eventbridge-metric-math.json"), "detail.alarmName", "relay-x"), "detail.state.value", "INSUFFICIENT_DATA"), false},
		{"prefix is case-sensitive", set(sample(t, "eventbridge-single-metric.json"), "detail.alarmName", "RELAY-x"), false},
		{"configuration change", set(sample(t, "eventbridge-composite-configuration-change.json"), "detail.alarmName", "relay-x"), false},
		{"other source", set(set(sample(t, "eventbridge-single-metric.json"), "detail.alarmName", "relay-x"), "source", "aws.ec2"), false},
		{"direct alarm action payload is not an EventBridge event", sample(t, "lambda-action-metric.json"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Match(tc.event); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPatternOperators(t *testing.T) {
	event := map[string]any{
		"source": "aws.cloudwatch", "account": "123456789012",
		"detail": map[string]any{
			"alarmName": "Relay-Green-5xx", "count": 7.0, "ip": "10.0.3.4", "tags": []any{"a", "b"},
			"flag": true, "nothing": nil,
		},
	}
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{"source":["aws.cloudwatch"]}`, true},
		{`{"source":["aws.ec2","aws.cloudwatch"]}`, true},
		{`{"detail":{"alarmName":[{"prefix":{"equals-ignore-case":"relay-"}}]}}`, true},
		{`{"detail":{"alarmName":[{"suffix":"5xx"}]}}`, true},
		{`{"detail":{"alarmName":[{"equals-ignore-case":"relay-green-5XX"}]}}`, true},
		{`{"detail":{"alarmName":[{"wildcard":"Relay-*-5xx"}]}}`, true},
		{`{"detail":{"alarmName":[{"anything-but":{"prefix":"Relay-"}}]}}`, false},
		{`{"detail":{"alarmName":[{"anything-but":["x","y"]}]}}`, true},
		{`{"detail":{"count":[{"numeric":[">",5,"<=",7]}]}}`, true},
		{`{"detail":{"count":[{"numeric":[">",7]}]}}`, false},
		{`{"detail":{"count":[7]}}`, true},
		{`{"detail":{"ip":[{"cidr":"10.0.0.0/16"}]}}`, true},
		{`{"detail":{"tags":["b"]}}`, true},
		{`{"detail":{"flag":[true]}}`, true},
		{`{"detail":{"nothing":[null]}}`, true},
		{`{"detail":{"missing":[{"exists":false}]}}`, true},
		{`{"detail":{"alarmName":[{"exists":true}]}}`, true},
		{`{"detail":{"missing":[{"exists":true}]}}`, false},
		{`{"detail":{"missing":["x"]}}`, false},
		{`{"$or":[{"source":["aws.ec2"]},{"account":["123456789012"]}]}`, true},
		{`{"$or":[{"source":["aws.ec2"]},{"account":["000"]}]}`, false},
	} {
		p, err := CompileJSON([]byte(tc.pattern))
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := p.Match(event); got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{`{}`, `{"source":"aws.cloudwatch"}`, `{"source":[]}`, `{"source":[{"regex":"x"}]}`, `{"x":[{"numeric":[">"]}]}`} {
		if _, err := CompileJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// functions is a stateful stand-in for Lambda: it records every payload
// and fails the first failures invocations.
type functions struct {
	mu       sync.Mutex
	calls    map[string][][]byte
	failures int
	fnErr    bool
}

var errFunction = errors.New("function error")

func (f *functions) Invoke(_ context.Context, name string, payload []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string][][]byte{}
	}
	f.calls[name] = append(f.calls[name], payload)
	if f.failures > 0 {
		f.failures--
		if f.fnErr {
			return nil, errFunction
		}
		return nil, errors.New("connection refused")
	}
	return []byte(`{"ok":true}`), nil
}

func TestBusDeliversWithRetries(t *testing.T) {
	for _, tc := range []struct {
		name          string
		failures      int
		fnErr         bool
		maxRetries    int
		wantAttempts  int
		wantDelivered bool
	}{
		{"first try", 0, false, 3, 1, true},
		{"invoke fails twice", 2, false, 3, 3, true},
		{"retry policy exhausted", 5, false, 2, 3, false},
		{"function error retried twice by Lambda", 2, true, 185, 3, true},
		{"function error three times", 3, true, 185, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fns := &functions{failures: tc.failures, fnErr: tc.fnErr}
			b := New(Config{Invoker: fns, TimeScale: 1e-4, IsFunctionError: func(err error) bool { return errors.Is(err, errFunction) }})
			defer b.Close()
			p, _ := Compile(rollbackPattern("relay-"))
			if err := b.AddRule(Rule{Name: "PipelineAlarm", Pattern: p, Target: Target{Function: "rollback", RetryPolicy: RetryPolicy{MaximumRetryAttempts: &tc.maxRetries}}}); err != nil {
				t.Fatal(err)
			}
			ev := set(sample(t, "eventbridge-single-metric.json"), "detail.alarmName", "relay-green-5xx-rate")
			raw, _ := json.Marshal(ev)
			matched, err := b.Put(raw)
			if err != nil || len(matched) != 1 {
				t.Fatalf("matched %v %v", matched, err)
			}
			b.Wait()
			ds := b.Deliveries()
			if len(ds) != 1 || ds[0].Attempts != tc.wantAttempts || (ds[0].Err == "") != tc.wantDelivered || ds[0].DeadLettered == tc.wantDelivered {
				t.Fatalf("delivery %+v", ds)
			}
			if got := string(fns.calls["rollback"][0]); got != string(raw) {
				t.Fatalf("payload %s", got)
			}
		})
	}
}

func TestBusIgnoresUnmatchedEvents(t *testing.T) {
	fns := &functions{}
	b := New(Config{Invoker: fns})
	defer b.Close()
	p, _ := Compile(rollbackPattern("relay-"))
	b.AddRule(Rule{Name: "r", Pattern: p, Target: Target{Function: "rollback"}})
	raw, _ := json.Marshal(sample(t, "eventbridge-single-metric.json"))
	matched, err := b.Put(raw)
	b.Wait()
	if err != nil || len(matched) != 0 || len(fns.calls) != 0 {
		t.Fatalf("matched %v, calls %v, %v", matched, fns.calls, err)
	}
	if _, err := b.Put([]byte("{garbled")); err == nil {
		t.Fatal("garbled event accepted")
	}
}
