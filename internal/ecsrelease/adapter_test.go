package ecsrelease_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
)

var update = flag.Bool("update", false, "rewrite golden files")

// ecsEndpoint is an httptest ECS speaking awsJson1_1: it answers each
// operation (X-Amz-Target) with the next fixture queued for it and records
// every request body.
type ecsEndpoint struct {
	t       *testing.T
	mu      sync.Mutex
	answers map[string][]string
	calls   []string
	bodies  map[string][]json.RawMessage
}

func newECSEndpoint(t *testing.T, answers map[string][]string) (*ecsEndpoint, *ecs.Client) {
	t.Helper()
	e := &ecsEndpoint{t: t, answers: answers, bodies: map[string][]json.RawMessage{}}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	client := ecs.NewFromConfig(aws.Config{
		Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
	})
	return e, client
}

func (e *ecsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonEC2ContainerServiceV20141113.")
	if !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		e.t.Errorf("not an awsJson1_1 ECS request: target %q, content type %q", target, r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	e.calls = append(e.calls, op)
	e.bodies[op] = append(e.bodies[op], body)
	queue := e.answers[op]
	if len(queue) == 0 {
		e.t.Errorf("unexpected %s", op)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"ClientException","message":"unexpected call"}`)
		return
	}
	file := queue[0]
	if len(queue) > 1 {
		e.answers[op] = queue[1:]
	}
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		e.t.Errorf("fixture: %v", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(b)
}

func (e *ecsEndpoint) body(op string, i int) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var v map[string]any
	if err := json.Unmarshal(e.bodies[op][i], &v); err != nil {
		e.t.Fatalf("%s body: %v", op, err)
	}
	return v
}

func readJSON(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

func adapterRelease(api ecsrelease.API) *ecsrelease.Release {
	return &ecsrelease.Release{
		API: api, Mode: "ecs", Services: ecsrelease.Services{Cluster: "relay", Blue: "relay-blue", Green: "relay-green"},
		Container: "relay", MaxChecks: 60, Now: func() time.Time { return t0 },
	}
}

func adapterRecord() deploy.Record {
	rec := record(false)
	rec.Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:v2.4.0"
	return rec
}

// TestReleaseTaskDefinitionGolden releases against AWS-shaped ECS answers:
// the RegisterTaskDefinition request is the described task definition,
// read-only fields removed, with only the relay container's image
// replaced — checked against a golden file and derived from the fixture.
func TestReleaseTaskDefinitionGolden(t *testing.T) {
	e, client := newECSEndpoint(t, map[string][]string{
		"DescribeServices":       {"describe-services-steady.json"},
		"DescribeTaskDefinition": {"describe-task-definition.json"},
		"RegisterTaskDefinition": {"register-task-definition-response.json"},
		"UpdateService":          {"update-service-response.json"},
	})
	rec := adapterRecord()
	out, err := adapterRelease(client).Handle(context.Background(), discard(), ecsrelease.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec, Action: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DescribeServices", "DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService"}, e.calls); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"cluster": "relay", "services": []any{"relay-green"}}, e.body("DescribeServices", 0)); diff != "" {
		t.Errorf("DescribeServices request (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:41", "include": []any{"TAGS"}},
		e.body("DescribeTaskDefinition", 0)); diff != "" {
		t.Errorf("DescribeTaskDefinition request (-want +got):\n%s", diff)
	}
	// UpdateService changes the task definition and nothing else.
	if diff := cmp.Diff(map[string]any{"cluster": "relay", "service": "relay-green",
		"taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:42"}, e.body("UpdateService", 0)); diff != "" {
		t.Errorf("UpdateService request (-want +got):\n%s", diff)
	}

	got := e.body("RegisterTaskDefinition", 0)
	golden := filepath.Join("testdata", "register-task-definition.golden.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(readJSON(t, "register-task-definition.golden.json"), got); diff != "" {
		t.Errorf("RegisterTaskDefinition request differs from the golden file (-golden +got):\n%s", diff)
	}

	// Derived independently: the original minus read-only fields, with
	// the new image, plus its tags.
	described := readJSON(t, "describe-task-definition.json")
	want := described["taskDefinition"].(map[string]any)
	for _, f := range []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt", "registeredBy"} {
		delete(want, f)
	}
	relay := want["containerDefinitions"].([]any)[0].(map[string]any)
	relay["image"] = rec.Image
	// NOTE: ContainerDefinition.Cpu is a plain int32 in the SDK, so a
	// described "cpu": 0 (what ECS reports for a container registered
	// without cpu) is not serialised; ECS reads the absent value as 0.
	if relay["cpu"] == 0.0 {
		delete(relay, "cpu")
	}
	want["tags"] = described["tags"]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("new task definition differs from the old beyond the image (-old with new image +sent):\n%s", diff)
	}

	if out.TaskDefinition != "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:42" || out.ECSDeploymentID != "ecs-svc/9023318474457711890" ||
		out.PreviousTaskDefinition != "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:41" || out.Status != "IN_PROGRESS" || out.DesiredCount != 3 {
		t.Fatalf("output %+v", out)
	}
}

func TestReleaseCheckAgainstAWSShapes(t *testing.T) {
	rec := adapterRecord()
	prev := ecsrelease.Output{
		Mode: "ecs", Action: "start", Status: "IN_PROGRESS", Colour: deploy.Green, Cluster: "relay", Service: "relay-green",
		Container: "relay", Image: rec.Image, Changed: true,
		TaskDefinition:         "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:42",
		PreviousTaskDefinition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/relay:41",
		ECSDeploymentID:        "ecs-svc/9023318474457711890", MaxChecks: 60, StartedAt: t0, CheckedAt: t0,
	}
	for _, tc := range []struct {
		fixture, status, err string
	}{
		{"describe-services-completed.json", "COMPLETED", ""},
		{"describe-services-rolled-back.json", "", "no longer the primary one (the service now runs relay:41, deployment ecs-svc/5120030661749305562): " +
			"rolled back by the deployment circuit breaker or replaced by another update: ECS deployment circuit breaker: tasks failed to start."},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			_, client := newECSEndpoint(t, map[string][]string{"DescribeServices": {tc.fixture}})
			out, err := adapterRelease(client).Handle(context.Background(), discard(),
				ecsrelease.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec, Action: "check", Release: &prev})
			if tc.err != "" {
				wantCode(t, err, deploy.ReleaseFailed, tc.err)
				return
			}
			if err != nil || out.Status != tc.status || out.Checks != 1 {
				t.Fatalf("%v %+v", err, out)
			}
		})
	}
}

func TestReleaseClassifiesECSErrors(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		code deploy.Code
	}{
		{"ThrottlingException", deploy.Throttled},
		{"AccessDeniedException", deploy.AccessDenied},
		{"ClusterNotFoundException", deploy.ReleaseFailed},
		{"InvalidParameterException", deploy.RequestRejected},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"`+tc.typ+`","message":"no"}`)
			}))
			defer srv.Close()
			client := ecs.NewFromConfig(aws.Config{
				Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
				BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			})
			rec := adapterRecord()
			_, err := adapterRelease(client).Handle(context.Background(), discard(), ecsrelease.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec, Action: "start"})
			if deploy.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.typ) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}
