package statemachine

import (
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
			fields := `"Parameters":{"FunctionName":"fn","Payload":{"n.$":"$.n"}},"Retry":` + tc.retry
			var more []string
			if tc.catch != "" {
				fields += `,"Catch":` + tc.catch
				more = append(more, `"Caught":{"Type":"Pass","End":true}`)
			}
			x, h := l.run(t, taskDef(fields+`,"End":true`, more...), `{"n":1}`)
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
			// Every attempt sends the same payload.
			for i, c := range calls {
				if c != `{"n":1}` {
					t.Errorf("call %d payload %s", i, c)
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
