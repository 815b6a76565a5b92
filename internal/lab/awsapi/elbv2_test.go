package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
)

func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

type elbFixture struct {
	lb          *loadbalancer.LoadBalancer
	blue, green *loadbalancer.TargetGroup
	prod        *loadbalancer.Listener
	rule        loadbalancer.Rule
	client      *elbv2.Client
	endpoint    string
}

func target(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s
}

func newELBFixture(t *testing.T) *elbFixture {
	t.Helper()
	f := &elbFixture{}
	f.lb = loadbalancer.New(loadbalancer.Config{Name: "relay", Seed: 7})
	t.Cleanup(func() { f.lb.Close(context.Background()) })
	hc := loadbalancer.HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1}
	f.blue, _ = f.lb.AddTargetGroup(loadbalancer.TargetGroupSpec{Name: "relay-blue", Colour: "blue", HealthCheck: hc})
	f.green, _ = f.lb.AddTargetGroup(loadbalancer.TargetGroupSpec{Name: "relay-green", Colour: "green", HealthCheck: hc})
	f.blue.RegisterTargets(target(t, "blue").URL)
	f.green.RegisterTargets(target(t, "green").URL)
	on, five := true, 300
	one := 1
	var err error
	f.prod, err = f.lb.AddListener(loadbalancer.ListenerSpec{Key: "production", DefaultActions: []loadbalancer.Action{{Type: loadbalancer.ActionForward,
		Forward: &loadbalancer.ForwardConfig{TargetGroups: []loadbalancer.WeightedTargetGroup{{ARN: f.blue.ARN(), Weight: &one}},
			Stickiness: &loadbalancer.Stickiness{Enabled: &on, DurationSeconds: &five}}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.rule, err = f.lb.AddRule(f.prod.ARN(), loadbalancer.RuleSpec{Key: "api", Priority: 10,
		Conditions: []loadbalancer.Condition{{Field: "path-pattern", Values: []string{"/v1/*"}}},
		Actions:    []loadbalancer.Action{{Type: loadbalancer.ActionForward, TargetGroupARN: f.blue.ARN()}}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(slog.New(slog.DiscardHandler))
	r.Handle(ServiceELB, &ELB{LB: f.lb, VPCID: "vpc-lab"})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	f.endpoint = srv.URL
	f.client = elbv2.NewFromConfig(awsConfig(srv.URL))
	return f
}

var ctx = context.Background()

func TestELBv2ListenerRoundTrip(t *testing.T) {
	f := newELBFixture(t)
	out, err := f.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{f.prod.ARN()}})
	if err != nil {
		t.Fatal(err)
	}
	l := out.Listeners[0]
	if aws.ToString(l.ListenerArn) != f.prod.ARN() || aws.ToString(l.LoadBalancerArn) != f.lb.ARN() || aws.ToInt32(l.Port) != int32(f.prod.Port()) || l.Protocol != elbtypes.ProtocolEnumHttp {
		t.Fatalf("listener %+v", l)
	}
	// One group: both the top-level ARN and ForwardConfig at weight 1.
	a := l.DefaultActions[0]
	if aws.ToString(a.TargetGroupArn) != f.blue.ARN() || len(a.ForwardConfig.TargetGroups) != 1 || aws.ToInt32(a.ForwardConfig.TargetGroups[0].Weight) != 1 {
		t.Fatalf("single-group action %+v", a)
	}

	// Write the complete list with a split and stickiness, read it back.
	write := []elbtypes.Action{{
		Type: elbtypes.ActionTypeEnumForward, Order: aws.Int32(1),
		ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{
				{TargetGroupArn: aws.String(f.blue.ARN()), Weight: aws.Int32(90)},
				{TargetGroupArn: aws.String(f.green.ARN()), Weight: aws.Int32(10)},
			},
			TargetGroupStickinessConfig: &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(3600)},
		},
	}}
	mod, err := f.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(f.prod.ARN()), DefaultActions: write})
	if err != nil {
		t.Fatal(err)
	}
	opts := cmpopts.IgnoreUnexported(elbtypes.Action{}, elbtypes.ForwardActionConfig{}, elbtypes.TargetGroupTuple{}, elbtypes.TargetGroupStickinessConfig{})
	if diff := cmp.Diff(write, mod.Listeners[0].DefaultActions, opts); diff != "" {
		t.Fatalf("ModifyListener output (-sent +got):\n%s", diff)
	}
	out, _ = f.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(f.lb.ARN())})
	if diff := cmp.Diff(write, out.Listeners[0].DefaultActions, opts); diff != "" {
		t.Fatalf("DescribeListeners after modify (-sent +got):\n%s", diff)
	}
	// The proxy really moved: the data plane's weights are the API's.
	if got := f.prod.Weights(); got[f.blue.ARN()] != 90 || got[f.green.ARN()] != 10 {
		t.Fatalf("proxy weights %v", got)
	}
}

func TestELBv2RejectsLikeAWS(t *testing.T) {
	f := newELBFixture(t)
	fwd := func(bw, gw int32) []elbtypes.Action {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(f.blue.ARN()), Weight: aws.Int32(bw)}, {TargetGroupArn: aws.String(f.green.ARN()), Weight: aws.Int32(gw)}}}}}
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
		as   any
	}{
		{"weight over 999", func() error {
			_, err := f.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(f.prod.ARN()), DefaultActions: fwd(1000, 0)})
			return err
		}, "ValidationError", nil},
		{"unknown listener", func() error {
			_, err := f.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{f.prod.ARN() + "0"}})
			return err
		}, "ListenerNotFound", new(*elbtypes.ListenerNotFoundException)},
		{"unknown rule", func() error {
			_, err := f.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{f.rule.ARN + "0"}})
			return err
		}, "RuleNotFound", new(*elbtypes.RuleNotFoundException)},
		{"unknown target group", func() error {
			_, err := f.client.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.blue.ARN() + "0")})
			return err
		}, "TargetGroupNotFound", new(*elbtypes.TargetGroupNotFoundException)},
		{"forward to an unknown group", func() error {
			_, err := f.client.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(f.rule.ARN), Actions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef")}}})
			return err
		}, "TargetGroupNotFound", new(*elbtypes.TargetGroupNotFoundException)},
		{"duplicate tag keys", func() error {
			_, err := f.client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.prod.ARN()}, Tags: []elbtypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}}})
			return err
		}, "DuplicateTagKeys", new(*elbtypes.DuplicateTagKeysException)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Fatalf("%T is not the SDK's exception type %T", err, tc.as)
			}
		})
	}
	if got := f.prod.Weights(); got[f.blue.ARN()] != 1 || len(got) != 1 {
		t.Fatalf("rejected requests changed the proxy: %v", got)
	}
}

func TestELBv2RulesTargetGroupsHealthTags(t *testing.T) {
	f := newELBFixture(t)
	rules, err := f.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(f.prod.ARN())})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 2 || aws.ToString(rules.Rules[0].Priority) != "10" || aws.ToString(rules.Rules[1].Priority) != "default" || !aws.ToBool(rules.Rules[1].IsDefault) {
		t.Fatalf("rules %+v", rules.Rules)
	}
	c := rules.Rules[0].Conditions[0]
	if aws.ToString(c.Field) != "path-pattern" || !slices.Equal(c.Values, []string{"/v1/*"}) || !slices.Equal(c.PathPatternConfig.Values, []string{"/v1/*"}) {
		t.Fatalf("condition %+v", c)
	}
	// ModifyRule with actions only keeps the conditions.
	if _, err := f.client.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(f.rule.ARN), Actions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward,
		ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(f.blue.ARN()), Weight: aws.Int32(50)}, {TargetGroupArn: aws.String(f.green.ARN()), Weight: aws.Int32(50)}}}}}}); err != nil {
		t.Fatal(err)
	}
	one, err := f.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{f.rule.ARN}})
	if err != nil {
		t.Fatal(err)
	}
	if r := one.Rules[0]; len(r.Conditions) != 1 || len(r.Actions[0].ForwardConfig.TargetGroups) != 2 || r.Actions[0].TargetGroupArn != nil {
		t.Fatalf("rule after modify %+v", r)
	}

	tgs, err := f.client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{f.blue.ARN(), f.green.ARN()}})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToString(tgs.TargetGroups[0].TargetGroupName); n != "relay-blue" || aws.ToString(tgs.TargetGroups[0].HealthCheckPath) != "/health" ||
		!slices.Equal(tgs.TargetGroups[0].LoadBalancerArns, []string{f.lb.ARN()}) || tgs.TargetGroups[0].TargetType != elbtypes.TargetTypeEnumIp {
		t.Fatalf("target group %+v", tgs.TargetGroups[0])
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := f.client.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(f.blue.ARN())})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.TargetHealthDescriptions) != 1 {
			t.Fatalf("health %+v", h.TargetHealthDescriptions)
		}
		th := h.TargetHealthDescriptions[0].TargetHealth
		if th.State == elbtypes.TargetHealthStateEnumHealthy {
			if th.Reason != "" {
				t.Fatalf("healthy with a reason: %+v", th)
			}
			break
		}
		if th.State != elbtypes.TargetHealthStateEnumInitial || !strings.HasPrefix(string(th.Reason), "Elb.") {
			t.Fatalf("before healthy: %+v", th)
		}
		if time.Now().After(deadline) {
			t.Fatal("never healthy")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if _, err := f.client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.prod.ARN(), f.rule.ARN},
		Tags: []elbtypes.Tag{{Key: aws.String("relayshift:stable"), Value: aws.String("blue")}, {Key: aws.String("team"), Value: aws.String("ai")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{f.prod.ARN()}, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.client.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{f.prod.ARN(), f.rule.ARN}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range tags.TagDescriptions {
		for _, tg := range d.Tags {
			got[aws.ToString(d.ResourceArn)] = append(got[aws.ToString(d.ResourceArn)], aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
	}
	want := map[string][]string{f.prod.ARN(): {"relayshift:stable=blue"}, f.rule.ARN: {"relayshift:stable=blue", "team=ai"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("tags (-want +got):\n%s", diff)
	}
}

// The project's own ELBv2 adapter works against the lab unchanged, and its
// writes move real traffic.
func TestALBAdapterAgainstTheLab(t *testing.T) {
	f := newELBFixture(t)
	for _, rule := range []bool{false, true} {
		t.Run(fmt.Sprintf("rule=%v", rule), func(t *testing.T) {
			l := alb.Listener{ListenerARN: f.prod.ARN(), Blue: f.blue.ARN(), Green: f.green.ARN()}
			if rule {
				l.RuleARN = f.rule.ARN
			}
			r := alb.New(f.client, l)
			if _, err := r.SetWeights(ctx, deploy.Weights{Blue: 0, Green: 100}); err != nil {
				t.Fatal(err)
			}
			w, err := r.Weights(ctx)
			if err != nil || w != (deploy.Weights{Blue: 0, Green: 100}) {
				t.Fatalf("weights %v %v", w, err)
			}
			path := "/"
			if rule {
				path = "/v1/models"
			}
			resp, err := http.Get(f.prod.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if c := resp.Header.Get(loadbalancer.DefaultColourHeader); c != "green" {
				t.Fatalf("after SetWeights green=100 the proxy served %q", c)
			}
			if err := r.Tag(ctx, map[string]string{"relayshift:stable": "blue"}, nil); err != nil {
				t.Fatal(err)
			}
			tags, err := r.Tags(ctx)
			if err != nil || tags["relayshift:stable"] != "blue" {
				t.Fatalf("tags %v %v", tags, err)
			}
			h, err := r.Health(ctx, deploy.Green)
			if err != nil || h.Total != 1 {
				t.Fatalf("health %+v %v", h, err)
			}
		})
	}
}
