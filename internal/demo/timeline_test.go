package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// fixed is a source that reports its lines once.
type fixed []line

func (f *fixed) poll(context.Context, time.Time) []line {
	out := *f
	*f = nil
	return out
}

func TestTimelinePrintsInTheOrderThingsHappened(t *testing.T) {
	var buf bytes.Buffer
	now := at0.Add(10 * time.Second)
	tl := newTimeline(&buf, at0, func() time.Time { return now })
	// The alarm source reports late an event older than what the history
	// already reported; lines of one millisecond keep their order.
	tl.watch(&fixed{{at: at0.Add(2 * time.Second), who: "v3", text: "▸ Bake step"}, {at: at0.Add(9 * time.Second), who: "v3", text: "■ execution ABORTED"}})
	tl.watch(&fixed{{at: at0.Add(8*time.Second + 400*time.Microsecond), who: "alarm", text: "blue-5xx-rate OK -> ALARM\nThreshold Crossed"}})
	tl.pollAll(context.Background(), now)
	tl.note("check", "ELBv2 DescribeListeners: %s", deploy.Weights{Green: 100})
	tl.add(line{at: at0.Add(2*time.Second + 300*time.Microsecond), who: "traffic", text: "same millisecond, added later"})
	tl.flush(at0.Add(9 * time.Second)) // up to the lag: the note (at now) waits
	first := buf.String()
	tl.stop(context.Background())
	want := strings.Join([]string{
		"[  2.0s] v3       ▸ Bake step",
		"[  2.0s] traffic  same millisecond, added later",
		"[  8.0s] alarm    blue-5xx-rate OK -> ALARM",
		"                    Threshold Crossed",
		"[  9.0s] v3       ■ execution ABORTED",
		"[ 10.0s] check    ELBv2 DescribeListeners: blue=0,green=100",
		"",
	}, "\n")
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if strings.Contains(first, "check") {
		t.Errorf("a line newer than the flush horizon was printed early:\n%s", first)
	}
}

func TestTrafficSourceReportsEachPeriodByColour(t *testing.T) {
	ld := &load{}
	versions := &releases{}
	versions.set(at0, "blue", "v1")
	versions.set(at0.Add(4*time.Second), "green", "v2")
	s := &trafficSource{load: ld, versions: versions, period: 3 * time.Second, grace: 500 * time.Millisecond, next: at0.Add(3 * time.Second)}
	if got := s.poll(context.Background(), at0.Add(3400*time.Millisecond)); len(got) != 0 {
		t.Fatalf("a period was reported before its grace: %v", got)
	}
	got := s.describe([]loadgen.Outcome{
		{At: at0.Add(4 * time.Second), Colour: "blue", Status: 200, Latency: 12 * time.Millisecond},
		{At: at0.Add(4 * time.Second), Colour: "green", Status: 500, Latency: 3 * time.Millisecond},
		{At: at0.Add(5 * time.Second), Colour: "", Status: 0},
	}, at0.Add(6*time.Second))
	want := "blue  v1     1 req   0 failed  p99   12ms | green v2     1 req   1 failed  p99  3.0ms | no answer: 1"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestExecSourceRendersWhatEachStateDid(t *testing.T) {
	rec := `{"id":"relay-v3-3bd7c40","executionArn":"x","version":"v3","stable":"green","candidate":"blue","before":{"blue":0,"green":100},` +
		`"plan":{"strategy":"Canary10Percent5Minutes","steps":[{"percent":10,"bakeSeconds":300},{"percent":100,"bakeSeconds":120}]}}`
	shift := `{"step":0,"percent":10,"weights":{"blue":10,"green":90},"changed":true,"bakeSeconds":300}`
	x := &execSource{label: "v3", scale: 0.05}
	var got []string
	for _, e := range []stepfn.Event{
		{Type: "ExecutionStarted", Input: `{"version":"v3","commit":"3bd7c40","strategy":"Canary10Percent5Minutes"}`},
		{Type: "TaskStateEntered", State: "Preflight", Input: `{"version":"v3"}`},
		{Type: "TaskStateExited", State: "Preflight", Output: `{"version":"v3","preflight":` + rec + `}`},
		{Type: "TaskStateEntered", State: "Shift traffic", Input: `{"preflight":` + rec + `,"shift":{"next":0}}`},
		{Type: "TaskStateExited", State: "Shift traffic", Output: `{"preflight":` + rec + `,"shift":` + shift + `}`},
		{Type: "WaitStateEntered", State: "Bake step", Input: `{"preflight":` + rec + `,"shift":` + shift + `}`},
		{Type: "TaskFailed", Error: "Throttled", Cause: `{"errorMessage":"Rate exceeded","errorType":"Throttled"}`},
		{Type: "ExecutionAborted", Error: "RolledBack", Cause: "alarm relayshift-relay-blue-5xx-rate went into ALARM"},
	} {
		if s := x.render(e); s != "" {
			got = append(got, s)
		}
	}
	want := []string{
		"execution started: version v3, commit 3bd7c40, strategy Canary10Percent5Minutes",
		"▸ Preflight",
		"  stable green (blue=0,green=100), candidate blue; plan Canary10Percent5Minutes 10% -> 100%, bake 5m0s, 2m0s after promotion",
		"▸ Shift traffic",
		"  step 1/2: blue 10% (blue=10,green=90), read back from the listener",
		"▸ Bake step  5m0s at blue 10% (15s here)",
		"  ✗ Throttled: Rate exceeded",
		"■ execution ABORTED by StopExecution: RolledBack\nalarm relayshift-relay-blue-5xx-rate went into ALARM",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !x.ended {
		t.Error("the terminal event did not end the source")
	}
}

func TestMinRequestsFollowsTheLoad(t *testing.T) {
	st, err := deploy.ParseStrategy(strategy)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rate, scale float64
		want        int
	}{
		{50, 0.05, 37},      // 50/s × 10% × 15 s = 75 candidate requests in the bake
		{500, 0.05, 50},     // capped at the template's default
		{10, 1.0 / 120, 5},  // at least 5
		{100, 1.0 / 60, 25}, // the smoke test's settings
	} {
		if got := minRequests(Config{Rate: tc.rate, TimeScale: tc.scale}, st); got != tc.want {
			t.Errorf("rate %v, scale %v: %d, want %d", tc.rate, tc.scale, got, tc.want)
		}
	}
	// A strategy of its own: 25% for 60 s at 100 requests a second, real
	// time, is 1,500 candidate requests: capped at 50; 20% for 120 s at
	// 1/60 is 100 × 20% × 2 s = 40, half of it 20.
	if got := minRequests(Config{Rate: 100, TimeScale: 1}, deploy.Strategy{Steps: []int{25, 100}, BakeSeconds: 60}); got != 50 {
		t.Errorf("25%% for 60 s: %d, want 50", got)
	}
	if got := minRequests(Config{Rate: 100, TimeScale: 1.0 / 60}, deploy.Strategy{Steps: []int{20, 100}, BakeSeconds: 120}); got != 20 {
		t.Errorf("20%% for 120 s: %d, want 20", got)
	}
}
