package functions_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/deploy/deploytest"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/relaysim"
)

var (
	candidateOnce sync.Once
	candidateBins map[string]string
)

// candidateFunctions builds the release, healthcheck and warmup bootstraps
// once per test binary.
func candidateFunctions(t testing.TB) map[string]string {
	t.Helper()
	candidateOnce.Do(func() {
		candidateBins = map[string]string{}
		for _, name := range []string{"release", "healthcheck", "warmup"} {
			candidateBins[name] = emulators.BuildFunction(t, binDir, name)
		}
	})
	if len(candidateBins) != 3 {
		t.Fatal("bootstraps were not built")
	}
	return candidateBins
}

// emulatorRecord is a deployment record of an execution that only the
// payload names: release, healthcheck and warmup do not call Step
// Functions.
func emulatorRecord(image string) deploy.Record {
	return deploy.Record{
		ID: "relay-v2-abc1234", ExecutionARN: deploytest.ExecutionARN("relay-v2-abc1234"), Version: "v2", Image: image, Commit: "abc1234",
		Stable: deploy.Blue, Candidate: deploy.Green, Before: deploy.Weights{Blue: 1},
		Plan:      deploy.Plan{Strategy: deploy.AllAtOnce, Steps: []deploy.Step{{Percent: 100}}},
		StartedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
	}
}

func payloadOf(rec deploy.Record, extra map[string]any) map[string]any {
	p := map[string]any{"executionArn": rec.ExecutionARN, "deployment": rec}
	maps.Copy(p, extra)
	return p
}

// startRelay runs a relaysim on loopback for the test.
func startRelay(t testing.TB, cfg relaysim.Config) *relaysim.Server {
	t.Helper()
	s, err := relaysim.Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// createSecret stores the relay key in moto as {"apiKey": key}.
func createSecret(t testing.TB, m *emulators.Moto, key string) string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(emulators.AWSConfig(m.Direct)).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("relay/api-key"), SecretString: aws.String(`{"apiKey":"` + key + `"}`),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

func noKeyInLogs(t testing.TB, f *emulators.Function, key string) {
	t.Helper()
	if logs := f.Logs(); strings.Contains(logs, key) {
		t.Fatalf("%s logs carry the API key:\n%s", f.Name, logs)
	} else if !strings.Contains(logs, `"function":"`+f.Name+`"`) {
		t.Fatalf("%s logged nothing of its own:\n%s", f.Name, logs)
	}
}

// ecsCluster creates, in moto, a cluster with blue and green services
// running relay:1 (a relay container and a sidecar).
func ecsCluster(t testing.TB, m *emulators.Moto) *ecs.Client {
	t.Helper()
	ctx := context.Background()
	c := ecs.NewFromConfig(emulators.AWSConfig(m.Direct))
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("relay")}); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("relay"), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("512"), Memory: aws.String("1024"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/relay-execution"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("relay"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:v1"), Essential: aws.Bool(true),
				Memory:       aws.Int32(512),
				PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
				Environment:  []ecstypes.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8080")}},
				Secrets:      []ecstypes.Secret{{Name: aws.String("OPENAI_API_KEY"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-AbCdEf")}}},
			{Name: aws.String("otel"), Image: aws.String("public.ecr.aws/aws-observability/aws-otel-collector:latest"), Memory: aws.Int32(128)},
		},
		Tags: []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("ai-platform")}},
	})
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
	for _, s := range []string{"relay-blue", "relay-green"} {
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{
			Cluster: aws.String("relay"), ServiceName: aws.String(s), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(2),
		}); err != nil {
			t.Fatalf("create service: %v", err)
		}
	}
	return c
}

// TestEmulatorRelease runs the release bootstrap under aws-lambda-rie
// against moto's ECS.
// NOTE: moto 5.2.1 updates a service's taskDefinition on UpdateService but
// never starts a new deployment nor runs tasks (checked with boto3), so
// the rollout poll (action check) is proven against the httptest ECS
// endpoint and the stateful fake, not here.
func TestEmulatorRelease(t *testing.T) {
	m := emulators.StartMoto(t)
	c := ecsCluster(t, m)
	bins := candidateFunctions(t)
	env := emulators.Env(m.URL)
	maps.Copy(env, map[string]string{
		"RELAYSHIFT_RELEASE_MODE": "ecs", "RELAYSHIFT_ECS_CLUSTER": "relay", "RELAYSHIFT_ECS_BLUE_SERVICE": "relay-blue",
		"RELAYSHIFT_ECS_GREEN_SERVICE": "relay-green", "RELAYSHIFT_ECS_CONTAINER": "relay",
	})
	rec := emulatorRecord("123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:v2")

	t.Run("happy", func(t *testing.T) {
		f := emulators.StartFunction(t, "release", bins["release"], env)
		var out ecsrelease.Output
		invoke(t, m, f, payloadOf(rec, map[string]any{"action": "start"}), &out)
		if diff := cmp.Diff([]string{"DescribeServices", "DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService"}, m.Actions()); diff != "" {
			t.Fatalf("calls (-want +got):\n%s", diff)
		}
		if out.Status != "IN_PROGRESS" || !out.Changed || out.Service != "relay-green" ||
			!strings.HasSuffix(out.TaskDefinition, "task-definition/relay:2") || !strings.HasSuffix(out.PreviousTaskDefinition, "task-definition/relay:1") {
			t.Fatalf("output %+v", out)
		}
		ctx := context.Background()
		describe := func(arn string) *ecs.DescribeTaskDefinitionOutput {
			d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		old, cur := describe(out.PreviousTaskDefinition), describe(out.TaskDefinition)
		old.TaskDefinition.ContainerDefinitions[0].Image = aws.String(rec.Image)
		opts := cmp.Options{
			cmpopts.IgnoreFields(ecstypes.TaskDefinition{}, "TaskDefinitionArn", "Revision", "RegisteredAt", "RegisteredBy"),
			cmpopts.IgnoreUnexported(ecstypes.TaskDefinition{}, ecstypes.ContainerDefinition{}, ecstypes.PortMapping{},
				ecstypes.KeyValuePair{}, ecstypes.Secret{}, ecstypes.Tag{}, ecstypes.TaskDefinitionPlacementConstraint{}, ecstypes.Volume{},
				ecstypes.MountPoint{}, ecstypes.VolumeFrom{}),
		}
		if diff := cmp.Diff(old.TaskDefinition, cur.TaskDefinition, opts); diff != "" {
			t.Errorf("moto holds a task definition that differs beyond the image (-old with new image +new):\n%s", diff)
		}
		if diff := cmp.Diff(old.Tags, cur.Tags, opts); diff != "" {
			t.Errorf("tags (-old +new):\n%s", diff)
		}
		svc, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("relay"), Services: []string{"relay-green", "relay-blue"}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(svc.Services[0].TaskDefinition) != out.TaskDefinition || aws.ToString(svc.Services[1].TaskDefinition) != out.PreviousTaskDefinition {
			t.Fatalf("services run %s (green) and %s (blue)", aws.ToString(svc.Services[0].TaskDefinition), aws.ToString(svc.Services[1].TaskDefinition))
		}
	})

	t.Run("failing", func(t *testing.T) {
		bad := maps.Clone(env)
		bad["RELAYSHIFT_ECS_CONTAINER"] = "api"
		f := emulators.StartFunction(t, "release", bins["release"], bad)
		res := invoke(t, m, f, payloadOf(rec, map[string]any{"action": "start"}), nil)
		if res.ErrorType != string(deploy.ReleaseFailed) || !strings.Contains(res.ErrorMessage, `has no container "api" (it has relay, otel)`) {
			t.Fatalf("errorType %q: %s", res.ErrorType, res.ErrorMessage)
		}
		for _, a := range m.Actions() {
			if a == "RegisterTaskDefinition" || a == "UpdateService" {
				t.Fatalf("a failed release wrote: %v", m.Actions())
			}
		}
	})
}

func TestEmulatorHealthCheck(t *testing.T) {
	const key = "sk-relayshift-emulator-health-31415926"
	m := emulators.StartMoto(t)
	a := emulators.CreateALB(t, m, "relay")
	relay := startRelay(t, relaysim.Config{APIKey: key, Models: []string{"sim-small", "sim-large"}, Version: "v2"})
	env := emulators.Env(m.URL)
	maps.Copy(env, a.Env())
	maps.Copy(env, map[string]string{
		"RELAYSHIFT_TEST_URL": relay.URL, "RELAYSHIFT_WARMUP_MODELS": "sim-small,sim-large",
		"RELAYSHIFT_API_KEY_SECRET_ARN": createSecret(t, m, key), "RELAYSHIFT_MIN_HEALTHY_TARGETS": "1",
	})
	bins := candidateFunctions(t)
	rec := emulatorRecord("")

	t.Run("happy", func(t *testing.T) {
		f := emulators.StartFunction(t, "healthcheck", bins["healthcheck"], env)
		var out candidate.HealthOutput
		invoke(t, m, f, payloadOf(rec, nil), &out)
		// moto reports every registered target healthy (AWS-FACTS.md).
		if out.Colour != deploy.Green || out.Targets.Total != 1 || out.Targets.Healthy != 1 || out.HealthStatus != 200 || out.ModelsListed != 2 {
			t.Fatalf("output %+v", out)
		}
		if diff := cmp.Diff([]string{"GetSecretValue", "DescribeTargetHealth"}, m.Actions()); diff != "" {
			t.Fatalf("calls (-want +got):\n%s", diff)
		}
		if tg := m.Calls()[1].Params.Get("TargetGroupArn"); tg != a.GreenARN {
			t.Fatalf("DescribeTargetHealth of %s, want the green target group", tg)
		}
		noKeyInLogs(t, f, key)
	})

	t.Run("failing", func(t *testing.T) {
		bad := maps.Clone(env)
		bad["RELAYSHIFT_WARMUP_MODELS"] = "sim-small,gpt-5-turbo"
		f := emulators.StartFunction(t, "healthcheck", bins["healthcheck"], bad)
		res := invoke(t, m, f, payloadOf(rec, nil), nil)
		if res.ErrorType != string(deploy.CandidateUnhealthy) || !strings.Contains(res.ErrorMessage, "does not list the warm-up models gpt-5-turbo") {
			t.Fatalf("errorType %q: %s", res.ErrorType, res.ErrorMessage)
		}
		noKeyInLogs(t, f, key)
	})
}

func TestEmulatorWarmUp(t *testing.T) {
	const key = "sk-relayshift-emulator-warmup-27182818"
	m := emulators.StartMoto(t)
	secret := createSecret(t, m, key)
	bins := candidateFunctions(t)
	rec := emulatorRecord("")
	start := func(t *testing.T, faults relaysim.Faults) *emulators.Function {
		relay := startRelay(t, relaysim.Config{APIKey: key, Models: []string{"sim-small", "sim-large"}, Faults: faults})
		env := emulators.Env(m.URL)
		maps.Copy(env, map[string]string{
			"RELAYSHIFT_TEST_URL": relay.URL, "RELAYSHIFT_WARMUP_MODELS": "sim-small,sim-large", "RELAYSHIFT_API_KEY_SECRET_ARN": secret,
		})
		return emulators.StartFunction(t, "warmup", bins["warmup"], env)
	}

	t.Run("happy", func(t *testing.T) {
		f := start(t, relaysim.Faults{})
		var out candidate.WarmupOutput
		invoke(t, m, f, payloadOf(rec, nil), &out)
		if !out.Passed || out.Requests != 30 || len(out.Models) != 2 {
			t.Fatalf("output %+v", out)
		}
		if !slices.Equal(m.Actions(), []string{"GetSecretValue"}) {
			t.Fatalf("calls %v", m.Actions())
		}
		for _, mr := range out.Models {
			if mr.Succeeded != 15 || mr.LatencyP95Ms <= 0 || mr.TTFTP95Ms <= 0 {
				t.Errorf("%+v", mr)
			}
			t.Logf("warm-up under RIE, %s: %d requests + %d streams, latency p50 %.2f ms p95 %.2f ms, TTFT p50 %.2f ms p95 %.2f ms",
				mr.Model, mr.Requests, mr.Streams, mr.LatencyP50Ms, mr.LatencyP95Ms, mr.TTFTP50Ms, mr.TTFTP95Ms)
		}
		t.Logf("warm-up under RIE: %d requests in %.1f ms", out.Requests, out.DurationMs)
		noKeyInLogs(t, f, key)
	})

	t.Run("failing", func(t *testing.T) {
		f := start(t, relaysim.Faults{ErrorRate: 0.2})
		res := invoke(t, m, f, payloadOf(rec, nil), nil)
		if res.ErrorType != string(deploy.WarmupFailed) || !strings.Contains(res.ErrorMessage, `5xx:`) || !strings.Contains(res.ErrorMessage, "HTTP 500") {
			t.Fatalf("errorType %q: %s", res.ErrorType, res.ErrorMessage)
		}
		t.Logf("%s", res.ErrorMessage)
		noKeyInLogs(t, f, key)
	})
}
