package emulators

import (
	"context"
	"encoding/xml"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// ALB is a load balancer created in an emulator: one listener forwarding
// 100% to blue (with stickiness on, to prove it is kept), a listener rule on
// the same listener, and the blue and green target groups with one target
// each.
type ALB struct {
	LoadBalancerARN string
	ListenerARN     string
	RuleARN         string
	BlueARN         string
	GreenARN        string
}

// Env returns the RELAYSHIFT_* variables for the ALB.
func (a ALB) Env() map[string]string {
	return map[string]string{
		"RELAYSHIFT_LISTENER_ARN":           a.ListenerARN,
		"RELAYSHIFT_BLUE_TARGET_GROUP_ARN":  a.BlueARN,
		"RELAYSHIFT_GREEN_TARGET_GROUP_ARN": a.GreenARN,
	}
}

// CreateALB builds the ALB in moto. EC2 (for the default VPC's subnets) is
// called by raw query, because the project has no EC2 client.
func CreateALB(t testing.TB, m *Moto, name string) ALB {
	t.Helper()
	var subnets struct {
		Items []struct {
			ID    string `xml:"subnetId"`
			VPCID string `xml:"vpcId"`
		} `xml:"subnetSet>item"`
	}
	b := m.Query(t, "ec2", url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}})
	if err := xml.Unmarshal(b, &subnets); err != nil || len(subnets.Items) < 2 {
		t.Fatalf("moto default subnets: %v (%d found)", err, len(subnets.Items))
	}
	ctx := context.Background()
	c := elbv2.NewFromConfig(AWSConfig(m.Direct))
	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:    aws.String(name),
		Subnets: []string{subnets.Items[0].ID, subnets.Items[1].ID},
	})
	if err != nil {
		t.Fatalf("create load balancer: %v", err)
	}
	a := ALB{LoadBalancerARN: aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)}
	for i, colour := range []string{"blue", "green"} {
		tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name: aws.String(name + "-" + colour), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080),
			VpcId: aws.String(subnets.Items[0].VPCID), TargetType: elbtypes.TargetTypeEnumIp,
			HealthCheckPath: aws.String("/health"),
		})
		if err != nil {
			t.Fatalf("create target group: %v", err)
		}
		arn := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
		if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn),
			Targets:        []elbtypes.TargetDescription{{Id: aws.String("172.31.1." + string(rune('1'+i))), Port: aws.Int32(8080)}},
		}); err != nil {
			t.Fatalf("register targets: %v", err)
		}
		if colour == "blue" {
			a.BlueARN = arn
		} else {
			a.GreenARN = arn
		}
	}
	forward := func(w int32) []elbtypes.Action {
		return []elbtypes.Action{{
			Type: elbtypes.ActionTypeEnumForward,
			ForwardConfig: &elbtypes.ForwardActionConfig{
				TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(a.BlueARN), Weight: aws.Int32(w)}},
				TargetGroupStickinessConfig: &elbtypes.TargetGroupStickinessConfig{
					Enabled: aws.Bool(true), DurationSeconds: aws.Int32(300),
				},
			},
		}}
	}
	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(a.LoadBalancerARN), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: forward(1),
	})
	if err != nil {
		t.Fatalf("create listener: %v", err)
	}
	a.ListenerARN = aws.ToString(l.Listeners[0].ListenerArn)
	r, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: aws.String(a.ListenerARN), Priority: aws.Int32(10),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/v1/*"}}},
		Actions:    forward(1),
	})
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	a.RuleARN = aws.ToString(r.Rules[0].RuleArn)
	return a
}

// StateMachine creates a state machine in the emulator and returns its
// ARN. moto does not execute it: its executions stay RUNNING until stopped,
// which is what the functions' lock and race guard read.
func StateMachine(t testing.TB, endpoint, name string) string {
	t.Helper()
	c := sfn.NewFromConfig(AWSConfig(endpoint))
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name:       aws.String(name),
		Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":86400,"End":true}}}`),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/relayshift-test"),
	})
	if err != nil {
		t.Fatalf("create state machine: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

// StartExecution starts an execution called name and returns its ARN.
func StartExecution(t testing.TB, endpoint, stateMachineARN, name string) string {
	t.Helper()
	c := sfn.NewFromConfig(AWSConfig(endpoint))
	out, err := c.StartExecution(context.Background(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(stateMachineARN), Name: aws.String(name), Input: aws.String("{}"),
	})
	if err != nil {
		t.Fatalf("start execution: %v", err)
	}
	return aws.ToString(out.ExecutionArn)
}
