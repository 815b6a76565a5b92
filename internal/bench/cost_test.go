package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

func TestMemorySizesFromTheTemplate(t *testing.T) {
	tpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := MemorySizes(tpl)
	if err != nil {
		t.Fatal(err)
	}
	// Globals.Function.MemorySize is 128; WarmUpFunction sets 256.
	want := map[string]int{}
	for _, f := range functions.All() {
		want[f.Name] = 128
	}
	want["warmup"] = 256
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("memory sizes (-want +got):\n%s", diff)
	}
}

func TestMemorySizesRefuses(t *testing.T) {
	var resources strings.Builder
	for _, f := range functions.All() {
		resources.WriteString("  " + f.LogicalID + ":\n    Type: AWS::Serverless::Function\n")
	}
	for _, tc := range []struct{ name, yaml string }{
		{"a parameter reference", "Globals:\n  Function:\n    MemorySize: !Ref Memory\nResources:\n" + resources.String()},
		{"out of range", "Globals:\n  Function:\n    MemorySize: 64\nResources:\n" + resources.String()},
		{"a function missing", "Resources:\n  PreflightFunction:\n    Type: AWS::Serverless::Function\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := samtemplate.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := MemorySizes(tpl); err == nil {
				t.Errorf("no error; got %v", got)
			}
		})
	}
	// No MemorySize anywhere: CloudFormation's default, 128.
	tpl, err := samtemplate.Parse([]byte("Resources:\n" + resources.String()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := MemorySizes(tpl)
	if err != nil || got["warmup"] != 128 {
		t.Errorf("%v %v", got, err)
	}
}

func TestBilledMsRoundsUpToTheMillisecond(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 1}, {time.Microsecond, 1}, {time.Millisecond, 1}, {time.Millisecond + time.Nanosecond, 2},
		{15200 * time.Microsecond, 16}, {2 * time.Second, 2000},
	} {
		if got := (BilledInvocation{Duration: tc.d}).BilledMs(); got != tc.want {
			t.Errorf("%s: billed %d ms, want %d", tc.d, got, tc.want)
		}
	}
}

func TestPrice(t *testing.T) {
	c := Price(Consumption{
		Transitions: 18,
		Invocations: []BilledInvocation{
			{Function: "preflight", MemoryMB: 128, Duration: 99500 * time.Microsecond}, // 100 ms billed: 0.0125 GB-s
			{Function: "warmup", MemoryMB: 256, Duration: 500 * time.Millisecond},      // 0.125 GB-s
			{Function: "evaluate", MemoryMB: 128, Duration: 3 * time.Millisecond},      // 0.000375 GB-s
			{Function: "evaluate", MemoryMB: 128, Duration: 3 * time.Millisecond},
		},
		Metrics: 26,
	})
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("%s: %.12g, want %.12g", what, got, want)
		}
	}
	if c.BilledMs != 606 {
		t.Errorf("billed %d ms, want 606", c.BilledMs)
	}
	near("GB-s", c.GBSeconds, 0.0125+0.125+2*0.000375)
	near("Step Functions", c.StepFunctions, 18*0.025/1000)
	near("Lambda requests", c.LambdaRequests, 4*0.20/1e6)
	near("Lambda duration", c.Duration, (0.0125+0.125+2*0.000375)*0.0000133334)
	near("GetMetricData", c.GetMetricData, 26*0.01/1000)
	near("total", c.Total(), 18*0.025/1000+4*0.20/1e6+(0.0125+0.125+2*0.000375)*0.0000133334+26*0.01/1000)
}
