package statemachine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scenarioFile is an engine-neutral scenario table: per Task state, the
// outcomes of its successive invocations, and the expected run.
type scenarioFile struct {
	Comment   string          `json:"comment"`
	Input     json.RawMessage `json:"input"`
	Scenarios []labScenario   `json:"scenarios"`
}

type labScenario struct {
	Name             string                      `json:"name"`
	Input            json.RawMessage             `json:"input"`
	Tasks            map[string][]scenarioResult `json:"tasks"`
	ExpectedStates   []string                    `json:"expectedStates"`
	ExpectedStatus   string                      `json:"expectedStatus"`
	ExpectedError    string                      `json:"expectedError"`
	ExpectedAttempts map[string]int              `json:"expectedAttempts"`
}

type scenarioResult struct {
	Payload      json.RawMessage `json:"payload"`
	ErrorType    string          `json:"errorType"`
	ErrorMessage string          `json:"errorMessage"`
}

// stateScript is an Invoker that answers each Task state from its script
// (the last outcome repeats), found through TaskFromContext.
type stateScript struct {
	mu       sync.Mutex
	tasks    map[string][]scenarioResult
	attempts map[string]int
}

func (s *stateScript) Invoke(ctx context.Context, _ string, _ []byte) ([]byte, error) {
	task, ok := TaskFromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("no task in the invocation context")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	script := s.tasks[task.StateName]
	if len(script) == 0 {
		return nil, &ServiceError{Code: "ResourceNotFoundException", StatusCode: 404, Message: "no scripted outcome for state " + task.StateName}
	}
	r := script[min(s.attempts[task.StateName], len(script)-1)]
	s.attempts[task.StateName]++
	if r.ErrorType != "" {
		return nil, &FunctionError{Type: r.ErrorType, Message: r.ErrorMessage,
			Payload: []byte(encodeJSON(map[string]any{"errorType": r.ErrorType, "errorMessage": r.ErrorMessage}))}
	}
	return r.Payload, nil
}

func loadScenarios(t *testing.T, path string) scenarioFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f scenarioFile
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// TestPipelineScenarios runs the lab's own deployment-shaped definition
// through the scenario table: the states entered, in order, and the final
// status and error.
func TestPipelineScenarios(t *testing.T) {
	f := loadScenarios(t, "testdata/pipeline-scenarios.json")
	def, err := Load([]byte(readTestdata(t, "pipeline.asl.json")), testSubstitutions)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, sc := range f.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			inv := &stateScript{tasks: sc.Tasks, attempts: map[string]int{}}
			clock := NewVirtualClock(t0)
			svc, err := NewService(Options{Invoker: inv, Clock: clock, TimeScale: 0.01, Jitter: func() float64 { return 1 }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(svc.Close)
			sm, err := svc.CreateStateMachine("relayshift-deploy", testRole, def)
			if err != nil {
				t.Fatal(err)
			}
			input := sc.Input
			if input == nil {
				input = f.Input
			}
			x, err := svc.StartExecution(sm.ARN, "", string(input))
			if err != nil {
				t.Fatal(err)
			}
			l := &lab{svc: svc, clock: clock}
			x, h := l.wait(t, x.ARN)
			if diff := cmp.Diff(sc.ExpectedStates, entered(h)); diff != "" {
				t.Errorf("states entered (-want +got):\n%s", diff)
			}
			if x.Status != sc.ExpectedStatus || x.Error != sc.ExpectedError {
				t.Errorf("ended %s %s (%s), want %s %s", x.Status, x.Error, x.Cause, sc.ExpectedStatus, sc.ExpectedError)
			}
			for state, n := range sc.ExpectedAttempts {
				if inv.attempts[state] != n {
					t.Errorf("%s invoked %d times, want %d", state, inv.attempts[state], n)
				}
			}
		})
	}
}

// TestTimeScaleOnTheRealClock runs the healthy scenario on the wall clock
// with a time scale of 0.001: 915 s of Waits (a 15 s release poll and three
// 300 s bakes) take under a second. The elapsed time is printed, not
// asserted.
func TestTimeScaleOnTheRealClock(t *testing.T) {
	f := loadScenarios(t, "testdata/pipeline-scenarios.json")
	def, err := Load([]byte(readTestdata(t, "pipeline.asl.json")), testSubstitutions)
	if err != nil {
		t.Fatal(err)
	}
	sc := f.Scenarios[0]
	inv := &stateScript{tasks: sc.Tasks, attempts: map[string]int{}}
	svc, err := NewService(Options{Invoker: inv, TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	sm, err := svc.CreateStateMachine("relayshift-deploy", testRole, def)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	x, err := svc.StartExecution(sm.ARN, "", string(f.Input))
	if err != nil {
		t.Fatal(err)
	}
	x, h := (&lab{svc: svc}).wait(t, x.ARN)
	elapsed := time.Since(start)
	if x.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s", x.Status, x.Error, x.Cause)
	}
	var waited time.Duration
	var entered time.Time
	for _, e := range h {
		switch e.Type {
		case "WaitStateEntered":
			entered = e.Timestamp
		case "WaitStateExited":
			waited += e.Timestamp.Sub(entered)
		}
	}
	if waited < 915*time.Millisecond {
		t.Errorf("the Wait states lasted %v in all, less than 915 s × 0.001", waited)
	}
	t.Logf("915 s of Wait states at time scale 0.001: execution took %v (waits %v, %d events)", elapsed, waited, len(h))
}

// BenchmarkPipelineExecution measures the engine's own cost: one healthy
// execution of the test definition (22 states, 79 events) on a virtual
// clock.
func BenchmarkPipelineExecution(b *testing.B) {
	raw, err := os.ReadFile("testdata/pipeline-scenarios.json")
	if err != nil {
		b.Fatal(err)
	}
	var f scenarioFile
	if err := json.Unmarshal(raw, &f); err != nil {
		b.Fatal(err)
	}
	text, err := os.ReadFile("testdata/pipeline.asl.json")
	if err != nil {
		b.Fatal(err)
	}
	def, err := Load(text, testSubstitutions)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := NewService(Options{Invoker: &stateScript{tasks: f.Scenarios[0].Tasks, attempts: map[string]int{}}, Clock: NewVirtualClock(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	sm, err := svc.CreateStateMachine("bench", testRole, def)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inv := svc.invoker.(*stateScript)
		inv.mu.Lock()
		inv.attempts = map[string]int{}
		inv.mu.Unlock()
		x, err := svc.StartExecution(sm.ARN, "", string(f.Input))
		if err != nil {
			b.Fatal(err)
		}
		if x, err = svc.Wait(context.Background(), x.ARN); err != nil || x.Status != StatusSucceeded {
			b.Fatalf("%v %s %s", err, x.Status, x.Cause)
		}
	}
}
