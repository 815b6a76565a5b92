package bench

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is everything one run measured.
type Report struct {
	Date    time.Time
	Machine string
	Elapsed time.Duration
	// The lab and its load.
	TimeScale    float64
	Alarm        AlarmInfo
	Rate         float64
	Strategy     string
	BaselineWait time.Duration
	// CheckRequests is the size of the baseline's sample check.
	CheckRequests int
	// MetricsPerEvaluate is how many metrics one Evaluate requests (one
	// GetMetricData call: cwmetrics' queries).
	MetricsPerEvaluate int
	// NotSent counts the requests of every load of the run that were not
	// sent because loadConcurrency were already in flight.
	NotSent int

	Baseline []BaselineRun
	Canary   []CanaryRun
	// WarmupCaught are the bad releases whose 5xx the test route sees too.
	WarmupCaught []CanaryRun
	Rollback     RollbackLatency
	Weights      WeightChanges
	Throughput   Throughput
	// Promoted are the healthy deployments' executions.
	Promoted []Execution
	// PromotedCost and RolledBackCost are the run with the median total of
	// the healthy deployments and of the canary runs the alarm path rolled
	// back.
	PromotedCost, RolledBackCost Cost
	Bootstraps                   []Bootstrap
}

// AlarmInfo describes the candidate's 5xx-rate alarm from the template.
type AlarmInfo struct {
	Name                                 string
	Threshold                            float64
	PeriodSeconds                        int
	EvaluationPeriods, DatapointsToAlarm int
}

// BaselineRun is one bad release under the all-at-once controller.
type BaselineRun struct {
	// Failed of Requests production requests sent from the flip to a
	// second after the flip back; NotSent in that window were not sent
	// (loadConcurrency in flight).
	Failed, Requests, NotSent int
	Result                    AllAtOnceResult
}

// CanaryRun is one bad release deployed by relayshift.
type CanaryRun struct {
	// Failed of Requests production requests sent from the execution's
	// start to a second after the restore; NotSent in that window were not
	// sent (loadConcurrency in flight).
	Failed, Requests, NotSent int
	Execution                 Execution
	// Path is what rolled it back: "alarm" (the EventBridge rule), or
	// "pipeline" (the state machine's own Roll back state: Evaluate's
	// verdict, or a failed warm-up).
	Path string
	// FailedState is the state whose failure led to the rollback (pipeline
	// path).
	FailedState string
	// Onset is the start of the first failed production request; Alarm the
	// alarm's transition into ALARM (the event's timestamp, to the
	// millisecond); Received when its event reached the rollback function's
	// rule; Restored when the function returned, its restore read back
	// (alarm path).
	Onset, Alarm, Received, Restored time.Time
	// RollbackInvocation is the rollback function's invocation by the
	// rule (alarm path).
	RollbackInvocation *Invocation
}

// RollbackLatency is the rollback function measured over many events.
type RollbackLatency struct {
	// Latencies run from the event reaching the bus to the function's
	// answer, sent after it read the restored weights back.
	Latencies []time.Duration
	// HandlerMs is what the function itself reports (elapsedMs).
	HandlerMs []float64
}

// WeightChanges is the weight-change run between two healthy colours.
type WeightChanges struct {
	Changes  int
	Interval time.Duration
	Elapsed  time.Duration
	// Changed are the requests started while the weights changed; Control
	// those of as long a time right after, at a fixed 50/50 split.
	Changed, Control Tally
	ByColour         map[string]int
}

// Tally counts requests and their failures, and the requests not sent
// (loadConcurrency in flight).
type Tally struct {
	Requests, Failed, NotSent int
	// BrokenAfterHeaders are failures whose response started (status and
	// colour received) but whose body broke.
	BrokenAfterHeaders int
}

// Throughput compares the lab's proxy with calling relaysim directly.
type Throughput struct {
	Workers       int
	Duration      time.Duration
	Direct, Proxy []float64 // requests per second, one per trial
	Failures      int64
}

// describeMachine names the machine the run measured.
func describeMachine() string {
	parts := []string{runtime.GOOS + "/" + runtime.GOARCH, strconv.Itoa(runtime.NumCPU()) + " CPUs"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64); err == nil {
					parts = append(parts, strconv.FormatFloat(kb/1024/1024, 'f', 0, 64)+" GiB")
				}
				break
			}
		}
	}
	return strings.Join(append(parts, runtime.Version()), ", ")
}
