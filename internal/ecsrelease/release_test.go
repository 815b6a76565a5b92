package ecsrelease_test

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/ecsrelease/ecsreleasetest"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func record(dryRun bool) deploy.Record {
	return deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"), Version: "v2",
		Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:v2", Commit: "abc1234",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 1},
		Plan:   deploy.Plan{Strategy: deploy.AllAtOnce, Steps: []deploy.Step{{Percent: 100}}},
		DryRun: dryRun, StartedAt: t0,
	}
}

// world is a cluster with blue and green services running relay:1 (image
// v1) with a log-router sidecar.
func world(t *testing.T) *ecsreleasetest.ECS {
	t.Helper()
	f := ecsreleasetest.New("relay")
	td := f.AddTaskDefinition(types.TaskDefinition{
		Family: aws.String("relay"), Cpu: aws.String("512"), Memory: aws.String("1024"),
		NetworkMode: types.NetworkModeAwsvpc, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/relay-exec"),
		TaskRoleArn:      aws.String("arn:aws:iam::123456789012:role/relay-task"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("relay"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:v1"), Essential: aws.Bool(true),
				Environment:  []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8080")}},
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}},
			{Name: aws.String("log-router"), Image: aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")},
		},
	}, []types.Tag{{Key: aws.String("team"), Value: aws.String("ai-platform")}, {Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("relay")}})
	f.AddService("relay-blue", td, 2)
	f.AddService("relay-green", td, 2)
	return f
}

func newRelease(api ecsrelease.API, mode string) *ecsrelease.Release {
	return &ecsrelease.Release{
		API: api, Mode: mode, Services: ecsrelease.Services{Cluster: "relay", Blue: "relay-blue", Green: "relay-green"},
		Container: "relay", MaxChecks: 3, Now: func() time.Time { return t0 },
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t *testing.T, r *ecsrelease.Release, rec deploy.Record) (ecsrelease.Output, error) {
	t.Helper()
	return r.Handle(context.Background(), discard(), ecsrelease.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec, Action: "start"})
}

func check(t *testing.T, r *ecsrelease.Release, rec deploy.Record, prev ecsrelease.Output) (ecsrelease.Output, error) {
	t.Helper()
	return r.Handle(context.Background(), discard(), ecsrelease.Input{ExecutionARN: rec.ExecutionARN, Deployment: rec, Action: "check", Release: &prev})
}

func wantCode(t *testing.T, err error, code deploy.Code, text string) {
	t.Helper()
	if deploy.CodeOf(err) != code || err == nil || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want %s containing %q", err, code, text)
	}
}

func TestReleaseRollsOutAndCompletes(t *testing.T) {
	f := world(t)
	r, rec := newRelease(f, "ecs"), record(false)
	out, err := start(t, r, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := ecsrelease.Output{
		Mode: "ecs", Action: "start", Status: "IN_PROGRESS", Colour: deploy.Green, Cluster: "relay", Service: "relay-green",
		Container: "relay", Image: rec.Image,
		TaskDefinition:         "arn:aws:ecs:us-east-1:123456789012:task-definition/relay:2",
		PreviousTaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/relay:1",
		Changed:                true, ECSDeploymentID: "ecs-svc/1000003", RolloutState: "IN_PROGRESS", DesiredCount: 2,
		MaxChecks: 3, Message: "service relay-green is rolling out relay:2 (was relay:1)", StartedAt: t0, CheckedAt: t0,
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Fatalf("start output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"relay-green=" + want.TaskDefinition}, f.Updates()); diff != "" {
		t.Fatalf("updates (-want +got):\n%s", diff)
	}
	// The copy equals the original but for the relay container's image;
	// the user tags are kept and AWS's own are not sent.
	old, _, _ := f.TaskDefinition(want.PreviousTaskDefinition)
	got, tags, _ := f.TaskDefinition(want.TaskDefinition)
	old.ContainerDefinitions = slices.Clone(old.ContainerDefinitions)
	old.ContainerDefinitions[0].Image = aws.String(rec.Image)
	ignore := cmpopts.IgnoreFields(types.TaskDefinition{}, "TaskDefinitionArn", "Revision", "RegisteredAt")
	if diff := cmp.Diff(old, got, ignore, cmpopts.IgnoreUnexported(types.TaskDefinition{}, types.ContainerDefinition{},
		types.KeyValuePair{}, types.PortMapping{})); diff != "" {
		t.Fatalf("new task definition differs beyond the image (-old with new image +new):\n%s", diff)
	}
	if len(tags) != 1 || aws.ToString(tags[0].Key) != "team" {
		t.Fatalf("tags %+v", tags)
	}

	out, err = check(t, r, rec, out)
	if err != nil || out.Status != "IN_PROGRESS" || out.Checks != 1 || out.Action != "check" {
		t.Fatalf("first check: %v %+v", err, out)
	}
	f.Progress("relay-green", 1)
	out, err = check(t, r, rec, out)
	if err != nil || out.Status != "IN_PROGRESS" || out.Checks != 2 || out.RunningCount != 1 {
		t.Fatalf("second check: %v %+v", err, out)
	}
	f.Complete("relay-green")
	out, err = check(t, r, rec, out)
	if err != nil || out.Status != "COMPLETED" || out.Checks != 3 || out.RolloutState != "COMPLETED" || out.RunningCount != 2 {
		t.Fatalf("third check: %v %+v", err, out)
	}
	// A check after completion changes nothing.
	again, err := check(t, r, rec, out)
	if err != nil || again.Status != "COMPLETED" || again.Checks != 3 {
		t.Fatalf("check after completion: %v %+v", err, again)
	}
	if svc := f.Service("relay-blue"); aws.ToString(svc.TaskDefinition) != want.PreviousTaskDefinition {
		t.Fatalf("the stable service was touched: %s", aws.ToString(svc.TaskDefinition))
	}
}

func TestReleaseFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(f *ecsreleasetest.ECS)
		check int
		code  deploy.Code
		text  string
	}{
		{"circuit breaker rolled back", func(f *ecsreleasetest.ECS) {
			f.Fail("relay-green", "ECS deployment circuit breaker: tasks failed to start.", true)
		}, 1, deploy.ReleaseFailed, "no longer the primary one (the service now runs relay:1"},
		{"circuit breaker without rollback", func(f *ecsreleasetest.ECS) {
			f.Fail("relay-green", "ECS deployment circuit breaker: tasks failed to start.", false)
		}, 1, deploy.ReleaseFailed, "failed: ECS deployment circuit breaker: tasks failed to start."},
		{"timeout", func(*ecsreleasetest.ECS) {}, 3, deploy.ReleaseFailed, "still in progress after 3 checks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			r, rec := newRelease(f, "ecs"), record(false)
			out, err := start(t, r, rec)
			if err != nil {
				t.Fatal(err)
			}
			tc.after(f)
			for i := 1; i < tc.check; i++ {
				if out, err = check(t, r, rec, out); err != nil {
					t.Fatalf("check %d: %v", i, err)
				}
			}
			_, err = check(t, r, rec, out)
			wantCode(t, err, tc.code, tc.text)
		})
	}
}

func TestReleaseStartIsIdempotent(t *testing.T) {
	f := world(t)
	r, rec := newRelease(f, "ecs"), record(false)
	first, err := start(t, r, rec)
	if err != nil {
		t.Fatal(err)
	}
	// The state machine retries a start whose answer was lost.
	second, err := start(t, r, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Registrations()) != 1 || len(f.Updates()) != 1 {
		t.Fatalf("a retried start wrote again: %d registrations, updates %v", len(f.Registrations()), f.Updates())
	}
	if second.Changed || second.TaskDefinition != first.TaskDefinition || second.ECSDeploymentID != first.ECSDeploymentID || second.Status != "IN_PROGRESS" {
		t.Fatalf("second start: %+v", second)
	}
	f.Complete("relay-green")
	if out, err := check(t, r, rec, second); err != nil || out.Status != "COMPLETED" {
		t.Fatalf("check: %v %+v", err, out)
	}
}

func TestReleaseDryRunWritesNothing(t *testing.T) {
	f := world(t)
	out, err := start(t, newRelease(f, "ecs"), record(true))
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != "SKIPPED" || !out.DryRun || out.Changed || !strings.Contains(out.Message, "dry run: would register a new revision of relay:1") {
		t.Fatalf("output %+v", out)
	}
	if len(f.Registrations()) != 0 || len(f.Updates()) != 0 {
		t.Fatal("dry run wrote")
	}
}

func TestReleaseRefusesBadInput(t *testing.T) {
	f := world(t)
	r := newRelease(f, "ecs")
	noImage := record(false)
	noImage.Image = ""
	otherExec := record(false)
	otherExec.ExecutionARN = deploytest.ExecutionARN("other")
	prev, err := start(t, r, record(false))
	if err != nil {
		t.Fatal(err)
	}
	blue := prev
	blue.Service, blue.Colour = "relay-blue", deploy.Blue
	for _, tc := range []struct {
		name string
		in   ecsrelease.Input
		code deploy.Code
		text string
	}{
		{"no image", ecsrelease.Input{ExecutionARN: noImage.ExecutionARN, Deployment: noImage, Action: "start"}, deploy.InvalidInput, "needs an image"},
		{"unknown action", ecsrelease.Input{ExecutionARN: noImage.ExecutionARN, Deployment: record(false), Action: "go"}, deploy.InvalidInput, `action "go"`},
		{"foreign execution", ecsrelease.Input{ExecutionARN: otherExec.ExecutionARN, Deployment: record(false), Action: "start"}, deploy.InvalidInput, "does not match"},
		{"check without release", ecsrelease.Input{ExecutionARN: noImage.ExecutionARN, Deployment: record(false), Action: "check"}, deploy.InvalidInput, "needs the previous release"},
		{"check of another service", ecsrelease.Input{ExecutionARN: noImage.ExecutionARN, Deployment: record(false), Action: "check", Release: &blue}, deploy.InvalidInput, "is not this deployment's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Handle(context.Background(), discard(), tc.in)
			wantCode(t, err, tc.code, tc.text)
		})
	}
	if len(f.Registrations()) != 1 || len(f.Updates()) != 1 {
		t.Fatalf("bad input wrote: %d registrations, %v", len(f.Registrations()), f.Updates())
	}
}

func TestReleaseContainerChoice(t *testing.T) {
	for _, tc := range []struct {
		name, container string
		text            string
	}{
		{"unknown container", "api", `has no container "api" (it has relay, log-router)`},
		{"several and none named", "", "has 2 containers (relay, log-router): set RELAYSHIFT_ECS_CONTAINER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			r := newRelease(f, "ecs")
			r.Container = tc.container
			_, err := start(t, r, record(false))
			wantCode(t, err, deploy.ReleaseFailed, tc.text)
			if len(f.Registrations()) != 0 {
				t.Fatal("wrote")
			}
		})
	}
}

func TestReleaseMissingService(t *testing.T) {
	f := world(t)
	r := newRelease(f, "ecs")
	r.Services.Green = "relay-gren"
	_, err := start(t, r, record(false))
	wantCode(t, err, deploy.ReleaseFailed, "service relay-gren in cluster relay: MISSING")
	r.Services.Cluster = "nope"
	_, err = start(t, r, record(false))
	wantCode(t, err, deploy.ReleaseFailed, "ClusterNotFoundException")
}

func TestReleaseExternal(t *testing.T) {
	t.Run("no ECS configured", func(t *testing.T) {
		r := &ecsrelease.Release{Mode: "external", MaxChecks: 3, Now: func() time.Time { return t0 }}
		out, err := start(t, r, record(false))
		if err != nil || out.Status != "SKIPPED" || out.Mode != "external" || !strings.Contains(out.Message, "nothing to verify") {
			t.Fatalf("%v %+v", err, out)
		}
		again, err := check(t, r, record(false), out)
		if err != nil || again.Status != "SKIPPED" || again.Action != "check" {
			t.Fatalf("check: %v %+v", err, again)
		}
	})
	t.Run("steady candidate", func(t *testing.T) {
		f := world(t)
		out, err := start(t, newRelease(f, "external"), record(false))
		if err != nil || out.Status != "SKIPPED" || out.TaskDefinition != "arn:aws:ecs:us-east-1:123456789012:task-definition/relay:1" || out.RunningCount != 2 {
			t.Fatalf("%v %+v", err, out)
		}
	})
	t.Run("candidate being released", func(t *testing.T) {
		f := world(t)
		if _, err := start(t, newRelease(f, "ecs"), record(false)); err != nil {
			t.Fatal(err)
		}
		_, err := start(t, newRelease(f, "external"), record(false))
		wantCode(t, err, deploy.ReleaseFailed, "candidate service relay-green is still being released (2 deployments")
	})
}

// TestCopyCoversEveryField guards against SDK upgrades: every field of a
// described TaskDefinition is either read-only or copied into the
// RegisterTaskDefinition input, and the copy sets every input field.
func TestCopyCoversEveryField(t *testing.T) {
	td := types.TaskDefinition{}
	fill(reflect.ValueOf(&td).Elem())
	td.ContainerDefinitions = []types.ContainerDefinition{{Name: aws.String("relay"), Image: aws.String("old")}}
	in := ecsrelease.CopyTaskDefinition(&td, []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}, 0, "new")

	readOnly := append(ecsrelease.ReadOnlyFields(), ecsrelease.NotCopiedFields()...)
	inType := reflect.TypeOf(ecs.RegisterTaskDefinitionInput{})
	tdType := reflect.TypeOf(td)
	for i := range tdType.NumField() {
		f := tdType.Field(i)
		if !f.IsExported() || slices.Contains(readOnly, f.Name) {
			continue
		}
		if _, ok := inType.FieldByName(f.Name); !ok {
			t.Errorf("TaskDefinition.%s is neither read-only nor a RegisterTaskDefinition field", f.Name)
		}
	}
	v := reflect.ValueOf(in).Elem()
	for i := range inType.NumField() {
		f := inType.Field(i)
		if !f.IsExported() || slices.Contains(ecsrelease.NotCopiedFields(), f.Name) {
			continue
		}
		if v.Field(i).IsZero() {
			t.Errorf("RegisterTaskDefinitionInput.%s is not copied", f.Name)
		}
		if tf, ok := tdType.FieldByName(f.Name); ok && f.Name != "ContainerDefinitions" &&
			!reflect.DeepEqual(v.Field(i).Interface(), reflect.ValueOf(td).FieldByIndex(tf.Index).Interface()) {
			t.Errorf("RegisterTaskDefinitionInput.%s differs from the original", f.Name)
		}
	}
	if aws.ToString(in.ContainerDefinitions[0].Image) != "new" || aws.ToString(td.ContainerDefinitions[0].Image) != "old" {
		t.Error("image not replaced in the copy only")
	}
}

// fill sets every exported field of struct v to a non-zero value.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
			if e := f.Elem(); e.Kind() == reflect.String {
				e.SetString("x")
			}
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.String:
			f.SetString("x")
		case reflect.Int32, reflect.Int64, reflect.Int:
			f.SetInt(1)
		case reflect.Bool:
			f.SetBool(true)
		}
	}
}
