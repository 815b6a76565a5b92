package statemachine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetry(t *testing.T) {
	const s = time.Second
	awsRecommended := `{"ErrorEquals":["Lambda.ServiceException","Lambda.AWSLambdaException","Lambda.SdkClientException","Lambda.TooManyRequestsException"],"IntervalSeconds":2,"MaxAttempts":6,"BackoffRate":2}`
	tests := []struct {
		name       string
		retry      string
		catch      string
		outcomes   []outcome
		timeScale  float64
		wantStatus string
		wantError  string
		wantSleeps []time.Duration
		wantCalls  int
		wantStates []string
	}{
		{
			name:     "retryable error twice then success",
			retry:    `[{"ErrorEquals":["TargetsNotReady"],"IntervalSeconds":5,"MaxAttempts":3,"BackoffRate":2}]`,
			outcomes: []outcome{fails("TargetsNotReady"), fails("TargetsNotReady"), ok(`{}`)},
			// 5 s, then 5 × 2 = 10 s.
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{5 * s, 10 * s}, wantCalls: 3,
			wantStates: []string{"T"},
		},
		{
			name:       "defaults are 1 s, 3 attempts, backoff 2",
			retry:      `[{"ErrorEquals":["Throttled"]}]`,
			outcomes:   []outcome{fails("Throttled")},
			wantStatus: StatusFailed, wantError: "Throttled",
			wantSleeps: []time.Duration{1 * s, 2 * s, 4 * s}, wantCalls: 4, wantStates: []string{"T"},
		},
		{
			name:       "MaxAttempts 0 never retries",
			retry:      `[{"ErrorEquals":["Throttled"],"MaxAttempts":0}]`,
			outcomes:   []outcome{fails("Throttled")},
			wantStatus: StatusFailed, wantError: "Throttled", wantCalls: 1, wantStates: []string{"T"},
		},
		{
			name:       "MaxDelaySeconds caps the backoff",
			retry:      `[{"ErrorEquals":["Throttled"],"IntervalSeconds":3,"MaxAttempts":4,"BackoffRate":3,"MaxDelaySeconds":20}]`,
			outcomes:   []outcome{fails("Throttled"), fails("Throttled"), fails("Throttled"), fails("Throttled"), ok(`{}`)},
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{3 * s, 9 * s, 20 * s, 20 * s}, wantCalls: 5, wantStates: []string{"T"},
		},
		{
			name:     "JitterStrategy FULL scales by a random factor",
			retry:    `[{"ErrorEquals":["Throttled"],"IntervalSeconds":4,"MaxAttempts":2,"JitterStrategy":"FULL"}]`,
			outcomes: []outcome{fails("Throttled"), fails("Throttled"), ok(`{}`)},
			// The test's jitter source returns 0.5.
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{2 * s, 4 * s}, wantCalls: 3, wantStates: []string{"T"},
		},
		{
			name:       "time scale",
			retry:      `[{"ErrorEquals":["Throttled"],"IntervalSeconds":10,"MaxAttempts":2}]`,
			outcomes:   []outcome{fails("Throttled"), fails("Throttled"), ok(`{}`)},
			timeScale:  0.01,
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, wantCalls: 3, wantStates: []string{"T"},
		},
		{
			name:       "AWS-recommended Lambda retrier on a service exception",
			retry:      `[` + awsRecommended + `]`,
			outcomes:   []outcome{fails("Lambda.ServiceException"), ok(`{}`)},
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{2 * s}, wantCalls: 2, wantStates: []string{"T"},
		},
		{
			name:       "States.TaskFailed matches a function error",
			retry:      `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`,
			outcomes:   []outcome{fails("WarmupFailed"), ok(`{}`)},
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{1 * s}, wantCalls: 2, wantStates: []string{"T"},
		},
		{
			name:       "retries exhausted then caught",
			retry:      `[{"ErrorEquals":["TargetsNotReady"],"IntervalSeconds":1,"MaxAttempts":2}]`,
			catch:      `[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}]`,
			outcomes:   []outcome{fails("TargetsNotReady")},
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{1 * s, 2 * s}, wantCalls: 3, wantStates: []string{"T", "Caught"},
		},
		{
			name:       "an error no retrier matches goes to Catch at once",
			retry:      `[{"ErrorEquals":["TargetsNotReady"]}]`,
			catch:      `[{"ErrorEquals":["CandidateUnhealthy"],"Next":"Caught"}]`,
			outcomes:   []outcome{fails("CandidateUnhealthy")},
			wantStatus: StatusSucceeded, wantCalls: 1, wantStates: []string{"T", "Caught"},
		},
		{
			// The ASL specification's complex retry scenario: a retrier's
			// MaxAttempts counts every retry it granted during the state's
			// run, whatever the error; the first matching retrier decides,
			// and once exhausted the error goes to Catch.
			name:       "complex retry scenario",
			retry:      `[{"ErrorEquals":["ErrorA","ErrorB"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":2},{"ErrorEquals":["ErrorC"],"IntervalSeconds":5}]`,
			catch:      `[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]`,
			outcomes:   []outcome{fails("ErrorA"), fails("ErrorB"), fails("ErrorC"), fails("ErrorB"), ok(`{}`)},
			wantStatus: StatusSucceeded, wantSleeps: []time.Duration{1 * s, 2 * s, 5 * s}, wantCalls: 4, wantStates: []string{"T", "Caught"},
		},
		{
			name:       "States.ALL in a retrier",
			retry:      `[{"ErrorEquals":["Throttled"],"MaxAttempts":0},{"ErrorEquals":["States.ALL"],"MaxAttempts":1,"IntervalSeconds":7}]`,
			outcomes:   []outcome{fails("Throttled")},
			wantStatus: StatusFailed, wantError: "Throttled", wantCalls: 1, wantStates: []string{"T"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := script(tc.outcomes...)
			l := newLab(t, map[string]Handler{"fn": fn}, func(o *Options) { o.TimeScale = tc.timeScale })
			fields := `"Parameters":{"FunctionName":"fn","Payload":{"retry.$":"$$.State.RetryCount"}},"Retry":` + tc.retry
			var more []string
			if tc.catch != "" {
				fields += `,"Catch":` + tc.catch
				more = append(more, `"Caught":{"Type":"Pass","End":true}`)
			}
			x, h := l.run(t, taskDef(fields+`,"End":true`, more...), `{}`)
			if x.Status != tc.wantStatus || x.Error != tc.wantError {
				t.Fatalf("got %s %s (%s), want %s %s", x.Status, x.Error, x.Cause, tc.wantStatus, tc.wantError)
			}
			if diff := cmp.Diff(tc.wantSleeps, l.clock.Sleeps()); diff != "" {
				t.Errorf("retry intervals (-want +got):\n%s", diff)
			}
			calls := fn.Calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d calls, want %d", len(calls), tc.wantCalls)
			}
			// $$.State.RetryCount counts the retries of this state.
			for i, c := range calls {
				if want := `{"retry":` + itoa(i) + `}`; c != want {
					t.Errorf("call %d payload %s, want %s", i, c, want)
				}
			}
			if diff := cmp.Diff(tc.wantStates, entered(h)); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			// Every attempt is a TaskScheduled/TaskStarted pair in the one
			// visit of the state.
			var scheduled int
			for _, e := range h {
				if e.Type == "TaskScheduled" {
					scheduled++
				}
			}
			if scheduled != tc.wantCalls {
				t.Errorf("%d TaskScheduled events, want %d", scheduled, tc.wantCalls)
			}
		})
	}
}

func itoa(i int) string { return encodeJSON(intValue(int64(i))) }

// TestTaskTimeout checks TimeoutSeconds: States.Timeout, which
// States.TaskFailed does not match but States.ALL does.
func TestTaskTimeout(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name       string
		catch      string
		wantStates []string
		wantStatus string
	}{
		{name: "TaskFailed does not match States.Timeout", catch: `[{"ErrorEquals":["States.TaskFailed"],"Next":"Caught"}]`, wantStates: []string{"T"}, wantStatus: StatusFailed},
		{name: "States.ALL matches it", catch: `[{"ErrorEquals":["States.ALL"],"Next":"Caught"}]`, wantStates: []string{"T", "Caught"}, wantStatus: StatusSucceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := script(outcome{block: block})
			l := newLab(t, map[string]Handler{"fn": fn})
			x, h := l.run(t, taskDef(`"Parameters":{"FunctionName":"fn","Payload":{}},"TimeoutSeconds":1,"Catch":`+tc.catch+`,"End":true`,
				`"Caught":{"Type":"Pass","End":true}`), `{}`)
			if x.Status != tc.wantStatus {
				t.Fatalf("status %s (%s %s)", x.Status, x.Error, x.Cause)
			}
			if tc.wantStatus == StatusFailed && x.Error != ErrTimeout {
				t.Errorf("error %s, want States.Timeout", x.Error)
			}
			if diff := cmp.Diff(tc.wantStates, entered(h)); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			if !strings.Contains(strings.Join(eventTypes(h), ","), "TaskTimedOut") {
				t.Errorf("no TaskTimedOut event: %v", eventTypes(h))
			}
		})
	}
}
