package stepfn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stepfn"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func fake(t *testing.T) (*stepfntest.Server, *stepfntest.Clock, *sfn.Client, string) {
	t.Helper()
	clock := stepfntest.NewClock(t0)
	srv := stepfntest.NewServer(t, clock)
	sm := srv.AddStateMachine("relayshift-deploy")
	return srv, clock, sfn.NewFromConfig(emulators.AWSConfig(srv.URL)), sm
}

func TestExecutionARN(t *testing.T) {
	got, err := stepfn.ExecutionARN("arn:aws:states:eu-west-1:123456789012:stateMachine:relayshift-deploy", "relay-v2-abc")
	if err != nil || got != "arn:aws:states:eu-west-1:123456789012:execution:relayshift-deploy:relay-v2-abc" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{"", "relayshift-deploy", "arn:aws:states:eu-west-1:123456789012:execution:sm:x"} {
		if _, err := stepfn.ExecutionARN(bad, "x"); deploy.CodeOf(err) != deploy.InvalidInput {
			t.Errorf("%q: err = %v, want InvalidInput", bad, err)
		}
	}
}

func TestStartAttachesInsteadOfStartingTwice(t *testing.T) {
	srv, _, api, sm := fake(t)
	c := stepfn.NewControl(api)
	ctx := context.Background()
	first, err := c.Start(ctx, sm, "relay-v2-abc", `{"version":"v2"}`)
	if err != nil || first.Existing {
		t.Fatalf("first start: %+v, %v", first, err)
	}
	// The same name and input while RUNNING: the same execution.
	again, err := c.Start(ctx, sm, "relay-v2-abc", `{"version":"v2"}`)
	if err != nil || again.ARN != first.ARN || again.Existing {
		t.Fatalf("same input: %+v, %v", again, err)
	}
	// Another input: ExecutionAlreadyExists, attached.
	other, err := c.Start(ctx, sm, "relay-v2-abc", `{"version":"v2","dryRun":true}`)
	if err != nil || other.ARN != first.ARN || !other.Existing {
		t.Fatalf("other input: %+v, %v", other, err)
	}
	// Once ended: ExecutionAlreadyExists, attached.
	if err := c.Stop(ctx, first.ARN, "RolledBack", "test"); err != nil {
		t.Fatal(err)
	}
	ended, err := c.Start(ctx, sm, "relay-v2-abc", `{"version":"v2"}`)
	if err != nil || ended.ARN != first.ARN || !ended.Existing {
		t.Fatalf("ended: %+v, %v", ended, err)
	}
	if n := len(srv.Executions()); n != 1 {
		t.Fatalf("%d executions, want 1", n)
	}
	if _, err := c.Start(ctx, sm, "relay v2", `{}`); deploy.CodeOf(err) != deploy.InvalidInput {
		t.Errorf("bad name: %v, want InvalidInput", err)
	}
	missing := strings.Replace(sm, "relayshift-deploy", "nope", 1)
	if _, err := c.Start(ctx, missing, "x", `{}`); deploy.CodeOf(err) != deploy.InvalidInput {
		t.Errorf("missing state machine: %v, want InvalidInput", err)
	}
}

func TestDetailAndRecent(t *testing.T) {
	srv, clock, api, sm := fake(t)
	c := stepfn.NewControl(api)
	ctx := context.Background()
	var arns []string
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5"} {
		arns = append(arns, srv.Start(sm, "relay-"+v, `{"version":"`+v+`"}`))
		clock.Advance(time.Minute)
		if v != "v5" {
			if err := c.Stop(ctx, arns[len(arns)-1], "RolledBack", "cause "+v); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := c.Detail(ctx, arns[0])
	if err != nil {
		t.Fatal(err)
	}
	want := stepfn.Detail{
		ARN: arns[0], Name: "relay-v1", StateMachineARN: sm, Status: "ABORTED",
		Started: t0, Stopped: t0.Add(time.Minute), Input: `{"version":"v1"}`, Error: "RolledBack", Cause: "cause v1",
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("detail (-want +got):\n%s", diff)
	}
	recent, err := c.Recent(ctx, sm, 3)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recent {
		names = append(names, r.Name+" "+string(r.Status))
	}
	if diff := cmp.Diff([]string{"relay-v5 RUNNING", "relay-v4 ABORTED", "relay-v3 ABORTED"}, names); diff != "" {
		t.Errorf("recent (-want +got):\n%s", diff)
	}
	if _, err := c.Detail(ctx, strings.Replace(arns[0], "relay-v1", "relay-v9", 1)); deploy.CodeOf(err) != deploy.InvalidInput {
		t.Errorf("missing execution: %v, want InvalidInput", err)
	}
}

// script is a long history: many task states, so that pages matter.
func script(x *stepfntest.Execution, s *stepfntest.Script) {
	for i := range 12 {
		s.Task("Step"+string(rune('A'+i)), 10*time.Second, "step", map[string]int{"i": i})
	}
	s.Succeeded("Done")
}

func TestHistoryFollowsAGrowingHistoryPageByPage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reverse bool // whether the server honours reverseOrder
	}{{"reverse order", true}, {"server ignoring reverseOrder", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, clock, api, sm := fake(t)
			srv.Scenario = script
			arn := srv.Start(sm, "relay-long", `{"version":"v2"}`)
			var hapi stepfn.HistoryAPI = api
			if !tc.reverse {
				hapi = ignoreReverse{api}
			}
			h := stepfn.NewHistory(hapi, arn)
			h.PageSize = 4
			var ids []int64
			var types []string
			ctx := context.Background()
			for range 20 {
				evs, err := h.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					ids = append(ids, e.ID)
					types = append(types, e.Type)
				}
				clock.Advance(7 * time.Second)
			}
			// 1 start + 12 tasks x 5 events + succeed (2) + end (1).
			if len(ids) != 64 {
				t.Fatalf("%d events, want 64: %v", len(ids), ids)
			}
			for i, id := range ids {
				if id != int64(i+1) {
					t.Fatalf("event %d has id %d: %v", i, id, ids)
				}
			}
			if types[0] != "ExecutionStarted" || types[63] != "ExecutionSucceeded" {
				t.Errorf("first %s, last %s", types[0], types[63])
			}
			// Nothing new: one call.
			before := srv.Count("GetExecutionHistory")
			if evs, err := h.Next(ctx); err != nil || len(evs) != 0 {
				t.Fatalf("after the end: %v, %v", evs, err)
			}
			if n := srv.Count("GetExecutionHistory") - before; tc.reverse && n != 1 {
				t.Errorf("a poll with nothing new made %d calls, want 1", n)
			}
		})
	}
}

// ignoreReverse stands for a server that ignores reverseOrder.
type ignoreReverse struct{ api *sfn.Client }

func (i ignoreReverse) GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	c := *in
	c.ReverseOrder = false
	return i.api.GetExecutionHistory(ctx, &c, opts...)
}

// TestEventOfAWSShapes decodes a GetExecutionHistory response in AWS's
// wire shape (awsJson1_0, epoch-second timestamps, details per event type,
// JSON documents as strings) with the SDK, and flattens it.
func TestEventOfAWSShapes(t *testing.T) {
	body, err := os.ReadFile("testdata/get-execution-history-caught.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.GetExecutionHistory" {
			http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	api := sfn.NewFromConfig(emulators.AWSConfig(srv.URL))
	out, err := api.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:sm:x")})
	if err != nil {
		t.Fatal(err)
	}
	var got []stepfn.Event
	for _, h := range out.Events {
		got = append(got, stepfn.EventOf(h))
	}
	at := func(ms int64) time.Time { return time.UnixMilli(1795773600000 + ms).UTC() }
	cause := `{"errorMessage":"CandidateUnhealthy: green has 2 unhealthy targets","errorType":"CandidateUnhealthy"}`
	want := []stepfn.Event{
		{ID: 1, Type: "ExecutionStarted", Time: at(0), Input: `{"version":"v2.7.0","commit":"9f1c2ab"}`},
		{ID: 2, Type: "TaskStateEntered", Time: at(1250), State: "HealthCheck", Input: `{"version":"v2.7.0","commit":"9f1c2ab"}`},
		{ID: 3, PreviousID: 2, Type: "TaskScheduled", Time: at(1251)},
		{ID: 4, PreviousID: 3, Type: "TaskStarted", Time: at(1300)},
		{ID: 5, PreviousID: 4, Type: "TaskFailed", Time: at(2010), Error: "CandidateUnhealthy", Cause: cause},
		{ID: 6, PreviousID: 5, Type: "TaskStateExited", Time: at(2011), State: "HealthCheck",
			Output: `{"version":"v2.7.0","commit":"9f1c2ab","error":{"Error":"CandidateUnhealthy","Cause":"{\"errorMessage\":\"CandidateUnhealthy: green has 2 unhealthy targets\",\"errorType\":\"CandidateUnhealthy\"}"}}`},
		{ID: 7, PreviousID: 6, Type: "FailStateEntered", Time: at(2020), State: "RolledBack", Input: `{}`},
		{ID: 8, PreviousID: 7, Type: "ExecutionFailed", Time: at(2021), Error: "RolledBack", Cause: "the deployment was rolled back"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.Terminal() != (e.ID == 8) || e.Failed() != (e.ID == 5) || e.Entered() != (e.ID == 2 || e.ID == 7) || e.Exited() != (e.ID == 6) {
			t.Errorf("event %d %s: terminal %v failed %v entered %v exited %v", e.ID, e.Type, e.Terminal(), e.Failed(), e.Entered(), e.Exited())
		}
	}
}

func TestCurrentState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reverse bool // whether the server honours reverseOrder
	}{{"reverse order", true}, {"server ignoring reverseOrder", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, clock, api, sm := fake(t)
			srv.Scenario = func(_ *stepfntest.Execution, s *stepfntest.Script) {
				s.Task("Preflight", time.Second, "preflight", map[string]string{"id": "x"})
				s.Wait("Bake", 5*time.Minute)
				// A state retrying for long: 40 attempts write 120 events
				// after its TaskStateEntered, more than one page of history.
				s.Enter("Task", "Check candidate health")
				for range 40 {
					s.Fail(time.Second, "TargetsNotReady", "green: 0 of 2 targets healthy").Elapse(time.Second)
				}
				s.Elapse(time.Hour).Succeeded("Done")
			}
			arn := srv.Start(sm, "relay-v2", `{"version":"v2"}`)
			c := stepfn.NewControl(api)
			if !tc.reverse {
				c = stepfn.NewControl(ignoreReverseControl{api})
			}
			ctx := context.Background()
			for _, step := range []struct {
				after time.Duration
				want  stepfn.StateNow
				calls int // GetExecutionHistory calls, at most, when reverseOrder works
			}{
				{0, stepfn.StateNow{Name: "Preflight", Type: "TaskStateEntered", Since: t0}, 1},
				{2 * time.Minute, stepfn.StateNow{Name: "Bake", Type: "WaitStateEntered", Since: t0.Add(time.Second)}, 1},
				{5 * time.Minute, stepfn.StateNow{Name: "Check candidate health", Type: "TaskStateEntered", Since: t0.Add(time.Second + 5*time.Minute)}, 2},
				{time.Hour, stepfn.StateNow{}, 1},
			} {
				clock.Advance(step.after)
				before := srv.Count("GetExecutionHistory")
				got, err := c.CurrentState(ctx, arn)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(step.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
					t.Errorf("after %s (-want +got):\n%s", step.after, diff)
				}
				if n := srv.Count("GetExecutionHistory") - before; tc.reverse && n > step.calls {
					t.Errorf("after %s: %d GetExecutionHistory calls, want at most %d", step.after, n, step.calls)
				}
			}
		})
	}
}

// ignoreReverseControl is a Step Functions client whose server ignores
// reverseOrder.
type ignoreReverseControl struct{ *sfn.Client }

func (i ignoreReverseControl) GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	return ignoreReverse{i.Client}.GetExecutionHistory(ctx, in, opts...)
}

func TestCauseMessage(t *testing.T) {
	for _, tc := range []struct{ cause, want string }{
		{`{"errorMessage":"CandidateUnhealthy: green has 2 unhealthy targets","errorType":"CandidateUnhealthy"}`, "CandidateUnhealthy: green has 2 unhealthy targets"},
		{` {"errorMessage":"","errorType":"InternalError"}`, ""},
		{`{"errorType":"InternalError"}`, `{"errorType":"InternalError"}`},
		{"The execution timed out.", "The execution timed out."},
		{`["not","an","object"]`, `["not","an","object"]`},
		{"", ""},
	} {
		if got := stepfn.CauseMessage(tc.cause); got != tc.want {
			t.Errorf("CauseMessage(%q) = %q, want %q", tc.cause, got, tc.want)
		}
	}
}
