package statemachine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
)

// TestHTTPInvokerResponses: how a Lambda invoke endpoint's answers become
// task results and error names.
func TestHTTPInvokerResponses(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		headers   map[string]string
		body      string
		wantOut   string
		wantName  string
		wantCause string
	}{
		{name: "success", status: 200, body: `{"ok":true}`, wantOut: `{"ok":true}`},
		{name: "sam local function error", status: 200, headers: map[string]string{"X-Amz-Function-Error": "Unhandled"},
			body: `{"errorMessage":"no healthy target","errorType":"CandidateUnhealthy"}`, wantName: "CandidateUnhealthy",
			wantCause: `{"errorMessage":"no healthy target","errorType":"CandidateUnhealthy"}`},
		{name: "aws-lambda-rie function error without the header", status: 200,
			body: `{"errorType":"TargetsNotReady","errorMessage":"2 targets in initial"}`, wantName: "TargetsNotReady"},
		{name: "timeout without errorType", status: 200, headers: map[string]string{"X-Amz-Function-Error": "Unhandled"},
			body: `{"errorMessage":"Task timed out after 3.00 seconds"}`, wantName: "Lambda.Unknown", wantCause: "Task timed out"},
		{name: "function not found", status: 404, headers: map[string]string{"X-Amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awslambda/"},
			body:     `{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:preflight"}`,
			wantName: "Lambda.ResourceNotFoundException", wantCause: "Function not found: arn:aws:lambda:us-east-1:123456789012:function:preflight (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException"},
		{name: "throttled", status: 429, body: `{"message":"Rate exceeded"}`, wantName: "Lambda.TooManyRequestsException"},
		{name: "service error", status: 500, body: `oops`, wantName: "Lambda.ServiceException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath, gotBody string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotPath, gotBody = r.URL.Path, string(b)
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			inv := NewHTTPInvoker(srv.URL, srv.Client())
			out, err := inv.Invoke(context.Background(), "arn:aws:lambda:us-east-1:123456789012:function:preflight", []byte(`{"x":1}`))
			if gotPath != "/2015-03-31/functions/preflight/invocations" || gotBody != `{"x":1}` {
				t.Errorf("request %s %s", gotPath, gotBody)
			}
			if tc.wantName == "" {
				if err != nil || string(out) != tc.wantOut {
					t.Fatalf("Invoke = %s, %v; want %s", out, err, tc.wantOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("Invoke succeeded with %s", out)
			}
			se := taskError(err)
			if se.Name != tc.wantName || !strings.Contains(se.Cause, tc.wantCause) {
				t.Errorf("task error %s %q, want %s containing %q", se.Name, se.Cause, tc.wantName, tc.wantCause)
			}
		})
	}
	t.Run("unreachable endpoint", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = NewHTTPInvoker("http://"+addr, nil).Invoke(context.Background(), "preflight", []byte(`{}`))
		if se := taskError(err); se.Name != "Lambda.SdkClientException" {
			t.Errorf("task error %s %q, want Lambda.SdkClientException", se.Name, se.Cause)
		}
	})
	t.Run("RIE route and unknown function", func(t *testing.T) {
		var gotPath string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotPath = r.URL.Path
			_, _ = io.WriteString(w, `{}`)
		}))
		defer srv.Close()
		inv := NewRIEInvoker(map[string]string{"shift": srv.URL}, srv.Client())
		if _, err := inv.Invoke(context.Background(), "123456789012:function:shift", []byte(`{}`)); err != nil || gotPath != "/2015-03-31/functions/function/invocations" {
			t.Errorf("Invoke = %v, path %s", err, gotPath)
		}
		_, err := inv.Invoke(context.Background(), "preflight", []byte(`{}`))
		if se := taskError(err); se.Name != "Lambda.ResourceNotFoundException" {
			t.Errorf("unknown function: %s", se.Name)
		}
	})
}

type pointerError struct{}

func (*pointerError) Error() string { return "pointer error" }

// TestInProcessErrorNames: the in-process invoker names a handler's error
// exactly as aws-lambda-go would, so Retry and Catch see the same names as
// on AWS.
func TestInProcessErrorNames(t *testing.T) {
	tests := []struct {
		name    string
		handler HandlerFunc
		want    string
	}{
		{name: "the handler edge's named error", want: "TargetsNotReady", handler: func(context.Context, []byte) ([]byte, error) {
			return nil, deploy.LambdaError(deploy.Errorf(deploy.TargetsNotReady, "2 targets in initial"))
		}},
		{name: "a wrapped error is wrapError", want: "wrapError", handler: func(context.Context, []byte) ([]byte, error) {
			return nil, fmt.Errorf("context: %w", errBoom)
		}},
		{name: "errors.New is errorString", want: "errorString", handler: func(context.Context, []byte) ([]byte, error) {
			return nil, errors.New("plain")
		}},
		{name: "a pointer type is named after its element", want: "pointerError", handler: func(context.Context, []byte) ([]byte, error) {
			return nil, &pointerError{}
		}},
		{name: "a pointer to InvokeResponse_Error is not special", want: "InvokeResponse_Error", handler: func(context.Context, []byte) ([]byte, error) {
			return nil, &messages.InvokeResponse_Error{Type: "X"}
		}},
		{name: "a panic is named after the panic value", want: "string", handler: func(context.Context, []byte) ([]byte, error) {
			panic("boom")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := NewInProcess(inProcess(map[string]Handler{"fn": tc.handler}, 0), "us-east-1", "123456789012")
			_, err := inv.Invoke(context.Background(), "fn", []byte(`{}`))
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Type != tc.want {
				t.Fatalf("Invoke = %v, want a function error of type %s", err, tc.want)
			}
		})
	}
	t.Run("Lambda context", func(t *testing.T) {
		var lc *lambdacontext.LambdaContext
		var deadline time.Time
		h := HandlerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
			lc, _ = lambdacontext.FromContext(ctx)
			deadline, _ = ctx.Deadline()
			return []byte(`{}`), nil
		})
		inv := NewInProcess(map[string]InProcessFunction{"shift": {Handler: h, Timeout: 30 * time.Second}}, "eu-west-1", "111122223333")
		if _, err := inv.Invoke(context.Background(), "arn:aws:lambda:eu-west-1:111122223333:function:shift", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if lc == nil || lc.AwsRequestID == "" || lc.InvokedFunctionArn != "arn:aws:lambda:eu-west-1:111122223333:function:shift" {
			t.Errorf("lambda context %+v", lc)
		}
		if deadline.IsZero() {
			t.Error("no deadline from the function timeout")
		}
	})
	// Each function has its own timeout, and Invoke returns at it even
	// when the handler ignores its context; the task then fails with
	// Lambda.Unknown, as Lambda's timeout does.
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		var running atomic.Bool
		stuck := HandlerFunc(func(context.Context, []byte) ([]byte, error) {
			running.Store(true)
			<-release // ignores its context
			running.Store(false)
			return []byte(`"late"`), nil
		})
		honest := HandlerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		quick := HandlerFunc(func(context.Context, []byte) ([]byte, error) { return []byte(`"ok"`), nil })
		inv := NewInProcess(map[string]InProcessFunction{
			"stuck":  {Handler: stuck, Timeout: 50 * time.Millisecond},
			"honest": {Handler: honest, Timeout: 20 * time.Millisecond},
			"quick":  {Handler: quick, Timeout: time.Hour},
		}, "us-east-1", "123456789012")
		for _, name := range []string{"stuck", "honest"} {
			_, err := inv.Invoke(context.Background(), name, []byte(`{}`))
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Type != "" || !strings.Contains(fe.Message, "Task timed out after") {
				t.Fatalf("%s: Invoke = %v, want a timeout function error without a type", name, err)
			}
			if se := taskError(err); se.Name != "Lambda.Unknown" || !strings.Contains(se.Cause, `"errorMessage"`) {
				t.Errorf("%s: task error %+v", name, se)
			}
		}
		if !strings.Contains(mustTimeout(t, inv, "stuck").Message, "after 0.05 seconds") || !strings.Contains(mustTimeout(t, inv, "honest").Message, "after 0.02 seconds") {
			t.Error("the message does not give the function's own timeout")
		}
		if !running.Load() {
			t.Fatal("the stuck handler returned: Invoke waited for it instead of stopping at the deadline")
		}
		if out, err := inv.Invoke(context.Background(), "quick", []byte(`{}`)); err != nil || string(out) != `"ok"` {
			t.Fatalf("quick: %s %v", out, err)
		}
	})
}

func mustTimeout(t *testing.T, inv *InProcess, name string) *FunctionError {
	t.Helper()
	_, err := inv.Invoke(context.Background(), name, []byte(`{}`))
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: %v", name, err)
	}
	return fe
}

// TestRIEInvoker runs a real bootstrap (the preflight function) under
// aws-lambda-rie and a state machine invoking it through HTTPInvoker: the
// function's InvalidInput error, reported by RIE in the body only, is the
// task's error name, and a Catch on it is taken.
func TestRIEInvoker(t *testing.T) {
	bootstrap := emulators.BuildFunction(t, t.TempDir(), "preflight")
	fn := emulators.StartFunction(t, "preflight", bootstrap, map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL":                  "http://127.0.0.1:1", // never called: the payload is refused first
		"RELAYSHIFT_SERVICE":                "relay",
		"RELAYSHIFT_LISTENER_ARN":           "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/0123456789abcdef/0123456789abcdef",
		"RELAYSHIFT_BLUE_TARGET_GROUP_ARN":  "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/0123456789abcdef",
		"RELAYSHIFT_GREEN_TARGET_GROUP_ARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/0123456789abcdef",
		"RELAYSHIFT_STATE_MACHINE_ARN":      "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy",
	})
	base := fn.Endpoint

	inv := NewRIEInvoker(map[string]string{"preflight": base}, nil)
	svc, err := NewService(Options{Invoker: inv, Clock: NewVirtualClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	l := &lab{svc: svc}
	x, h := l.run(t, taskDef(`"Parameters":{"FunctionName":"${PreflightFunctionArn}","Payload":{"bogus.$":"$"}},
		"Catch":[{"ErrorEquals":["InvalidInput"],"ResultPath":"$.error","Next":"Refused"}],"End":true`,
		`"Refused":{"Type":"Pass","End":true}`), `{"version":"v2"}`)
	if x.Status != StatusSucceeded {
		t.Fatalf("status %s %s %s\nlogs:\n%s", x.Status, x.Error, x.Cause, fn.Logs())
	}
	if diff := cmp.Diff([]string{"T", "Refused"}, entered(h)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	var failed *TaskFailureDetails
	for _, e := range h {
		if e.TaskFailed != nil {
			failed = e.TaskFailed
		}
	}
	if failed == nil || failed.Error != "InvalidInput" || !strings.Contains(failed.Cause, `"errorType":"InvalidInput"`) || !strings.Contains(failed.Cause, "unknown field") {
		t.Errorf("TaskFailed %+v", failed)
	}
}
