package stepfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

const (
	sm   = "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy"
	exec = "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:relay-v2-abc1234"
)

// fakeSFN answers awsJson1_0 requests with a function per operation and
// records the decoded request bodies.
type fakeSFN struct {
	t        *testing.T
	mu       sync.Mutex
	handlers map[string]func(req map[string]any) (int, string)
	requests []map[string]any
}

func newFake(t *testing.T) (*fakeSFN, *stepfn.Executions) {
	f, c := newFakeClient(t)
	return f, stepfn.New(c)
}

func newFakeClient(t *testing.T) (*fakeSFN, *sfn.Client) {
	f := &fakeSFN{t: t, handlers: map[string]func(map[string]any) (int, string){}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := sfn.NewFromConfig(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	})
	return f, c
}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		f.t.Errorf("content type %q, want awsJson1_0", ct)
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	req["_op"] = op
	f.mu.Lock()
	f.requests = append(f.requests, req)
	h := f.handlers[op]
	f.mu.Unlock()
	if h == nil {
		f.t.Errorf("unexpected %s", op)
		w.WriteHeader(500)
		return
	}
	status, out := h(req)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

func TestDescribeAndErrors(t *testing.T) {
	f, e := newFake(t)
	f.handlers["DescribeExecution"] = func(req map[string]any) (int, string) {
		if req["executionArn"] != exec {
			return 400, `{"__type":"ExecutionDoesNotExist","message":"Execution Does Not Exist"}`
		}
		return 200, `{"executionArn":"` + exec + `","stateMachineArn":"` + sm + `","name":"relay-v2-abc1234","status":"RUNNING","startDate":1795773600.123}`
	}
	x, err := e.Describe(context.Background(), exec)
	if err != nil {
		t.Fatal(err)
	}
	want := deploy.Execution{ARN: exec, Name: "relay-v2-abc1234", Status: deploy.Running, Started: time.UnixMilli(1795773600123)}
	if diff := cmp.Diff(want, x); diff != "" {
		t.Fatalf("execution (-want +got):\n%s", diff)
	}
	_, err = e.Describe(context.Background(), exec+"x")
	var missing *types.ExecutionDoesNotExist
	if deploy.CodeOf(err) != deploy.InvalidInput || !errors.As(err, &missing) {
		t.Fatalf("missing execution: %v, want InvalidInput wrapping *types.ExecutionDoesNotExist", err)
	}
	f.handlers["DescribeExecution"] = func(map[string]any) (int, string) {
		return 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`
	}
	if _, err := e.Describe(context.Background(), exec); deploy.CodeOf(err) != deploy.Throttled {
		t.Fatalf("throttling: %v", err)
	}
}

func TestRunningFollowsPages(t *testing.T) {
	f, e := newFake(t)
	f.handlers["ListExecutions"] = func(req map[string]any) (int, string) {
		if req["statusFilter"] != "RUNNING" || req["stateMachineArn"] != sm {
			t.Errorf("request %v", req)
		}
		if req["nextToken"] == nil {
			return 200, `{"executions":[{"executionArn":"` + exec + `","stateMachineArn":"` + sm + `","name":"relay-v2-abc1234","status":"RUNNING","startDate":1795773600}],"nextToken":"p2"}`
		}
		return 200, `{"executions":[{"executionArn":"` + exec + `-2","stateMachineArn":"` + sm + `","name":"relay-v3","status":"RUNNING","startDate":1795773700}]}`
	}
	got, err := e.Running(context.Background(), sm)
	if err != nil || len(got) != 2 || got[1].Name != "relay-v3" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestStopTruncates(t *testing.T) {
	f, e := newFake(t)
	f.handlers["StopExecution"] = func(map[string]any) (int, string) { return 200, `{"stopDate":1795773800}` }
	if err := e.Stop(context.Background(), exec, "RolledBack", strings.Repeat("c", 40000)); err != nil {
		t.Fatal(err)
	}
	req := f.requests[0]
	if req["error"] != "RolledBack" || len(req["cause"].(string)) != 32768 {
		t.Fatalf("request error %v, cause length %d", req["error"], len(req["cause"].(string)))
	}
	// A cut through a multi-byte character would send invalid UTF-8.
	if err := e.Stop(context.Background(), exec, "RolledBack", "x"+strings.Repeat("é", 20000)); err != nil {
		t.Fatal(err)
	}
	if c := f.requests[1]["cause"].(string); len(c) != 32767 || !utf8.ValidString(c) {
		t.Fatalf("multi-byte cause cut to %d bytes, valid UTF-8 %v", len(c), utf8.ValidString(c))
	}
}

func TestRecordFromHistory(t *testing.T) {
	rec := deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: exec, Version: "v2", Stable: deploy.Blue, Candidate: deploy.Green,
		Before: deploy.Weights{Blue: 100}, Plan: deploy.Plan{Strategy: "AllAtOnce", Steps: []deploy.Step{{Percent: 100}}},
	}
	state, _ := json.Marshal(map[string]any{"version": "v2", "preflight": rec})
	escaped, _ := json.Marshal(string(state))
	pages := []string{
		`{"events":[{"id":1,"type":"ExecutionStarted","timestamp":1795773600,"executionStartedEventDetails":{"input":"{\"version\":\"v2\"}"}},
		 {"id":2,"type":"TaskStateEntered","timestamp":1795773600,"stateEnteredEventDetails":{"name":"Preflight","input":"{}"}}],"nextToken":"p2"}`,
		`{"events":[{"id":3,"type":"TaskStateExited","timestamp":1795773601,"stateExitedEventDetails":{"name":"Preflight","output":` + string(escaped) + `}}]}`,
	}
	f, e := newFake(t)
	f.handlers["GetExecutionHistory"] = func(req map[string]any) (int, string) {
		if req["includeExecutionData"] != true || req["executionArn"] != exec {
			t.Errorf("request %v", req)
		}
		if req["nextToken"] == nil {
			return 200, pages[0]
		}
		return 200, pages[1]
	}
	got, err := e.Record(context.Background(), exec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Fatalf("record (-want +got):\n%s", diff)
	}

	f.handlers["GetExecutionHistory"] = func(map[string]any) (int, string) {
		return 200, `{"events":[{"id":1,"type":"PassStateExited","timestamp":1795773600,"stateExitedEventDetails":{"name":"Wait","output":"{}"}}]}`
	}
	if _, err := e.Record(context.Background(), exec); !errors.Is(err, deploy.ErrNoRecord) {
		t.Fatalf("no record: %v", err)
	}
}

// TestErrorsAreClassifiedOnce: an AWS error code gets the same name
// whichever call of the adapter met it (Executions for the functions,
// Control and History for the CLI).
func TestErrorsAreClassifiedOnce(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(c *stepfn.Control) error{
		"StartExecution": func(c *stepfn.Control) error {
			_, err := c.Start(ctx, sm, "relay-v2-abc1234", `{}`)
			return err
		},
		"DescribeExecution": func(c *stepfn.Control) error {
			_, err := c.Describe(ctx, exec)
			return err
		},
		"ListExecutions": func(c *stepfn.Control) error {
			_, err := c.Running(ctx, sm)
			return err
		},
		"StopExecution": func(c *stepfn.Control) error { return c.Stop(ctx, exec, "RolledBack", "test") },
		"GetExecutionHistory (Record)": func(c *stepfn.Control) error {
			_, err := c.Record(ctx, exec)
			return err
		},
		"GetExecutionHistory (History)": func(c *stepfn.Control) error {
			_, err := c.History(exec).Next(ctx)
			return err
		},
		"GetExecutionHistory (CurrentState)": func(c *stepfn.Control) error {
			_, err := c.CurrentState(ctx, exec)
			return err
		},
	}
	for _, tc := range []struct {
		code string
		want deploy.Code
	}{
		{"InvalidToken", deploy.InvalidInput},
		{"InvalidArn", deploy.InvalidInput},
		{"ExecutionDoesNotExist", deploy.InvalidInput},
		{"InvalidName", deploy.InvalidInput},
		{"ExecutionLimitExceeded", deploy.RequestRejected},
		{"ThrottlingException", deploy.Throttled},
		{"AccessDeniedException", deploy.AccessDenied},
		{"SomethingNew", deploy.InternalError},
	} {
		for name, call := range calls {
			f, api := newFakeClient(t)
			fail := func(map[string]any) (int, string) {
				return 400, `{"__type":"` + tc.code + `","message":"injected"}`
			}
			for _, op := range []string{"StartExecution", "DescribeExecution", "ListExecutions", "StopExecution", "GetExecutionHistory"} {
				f.handlers[op] = fail
			}
			if err := call(stepfn.NewControl(api)); deploy.CodeOf(err) != tc.want {
				t.Errorf("%s answering %s: %v, want %s", name, tc.code, err, tc.want)
			}
		}
	}
}
