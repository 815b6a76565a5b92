package cwmetrics_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/relayshift/relayshift/internal/cwmetrics"
	"github.com/relayshift/relayshift/internal/emulators"
)

// motoClient returns a CloudWatch client for moto.
// NOTE: moto speaks awsQuery for CloudWatch; the SDK's default rpcv2-CBOR
// gets 404 there (AWS-FACTS.md), so the protocol is overridden here, in
// tests only.
func motoClient(endpoint string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(emulators.AWSConfig(endpoint), func(o *cloudwatch.Options) {
		o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
	})
}

func TestWindowAgainstMoto(t *testing.T) {
	m := emulators.StartMoto(t)
	ctx := context.Background()
	setup := motoClient(m.Direct)

	now := time.Now().UTC()
	from := now.Add(-10 * time.Minute)
	at := now.Add(-5 * time.Minute)
	put := func(metric, tg string, v float64) {
		t.Helper()
		dims := []types.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)}}
		if tg != "" {
			dims = append(dims, types.Dimension{Name: aws.String("TargetGroup"), Value: aws.String(tg)})
		}
		_, err := setup.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace:  aws.String(cwmetrics.Namespace),
			MetricData: []types.MetricDatum{{MetricName: aws.String(metric), Dimensions: dims, Timestamp: aws.Time(at), Value: aws.Float64(v)}},
		})
		if err != nil {
			t.Fatalf("put %s: %v", metric, err)
		}
	}
	// Blue: 900 requests, 1 target 5xx; green: 100 requests, 5 target 5xx
	// and 2 connection errors, one unhealthy host; the load balancer: 3.
	put("RequestCount", blueDim, 500)
	put("RequestCount", blueDim, 400)
	put("HTTPCode_Target_5XX_Count", blueDim, 1)
	put("TargetResponseTime", blueDim, 0.2)
	put("TargetResponseTime", blueDim, 0.4)
	put("UnHealthyHostCount", blueDim, 0)
	put("RequestCount", greenDim, 100)
	put("HTTPCode_Target_5XX_Count", greenDim, 5)
	put("TargetConnectionErrorCount", greenDim, 2)
	put("TargetResponseTime", greenDim, 0.5)
	put("UnHealthyHostCount", greenDim, 1)
	put("HTTPCode_ELB_5XX_Count", "", 3)
	// A datapoint before the window must not count.
	_, err := setup.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(cwmetrics.Namespace),
		MetricData: []types.MetricDatum{{MetricName: aws.String("RequestCount"), Timestamp: aws.Time(from.Add(-5 * time.Minute)),
			Value: aws.Float64(7777), Dimensions: []types.Dimension{
				{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)},
				{Name: aws.String("TargetGroup"), Value: aws.String(greenDim)},
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	s := cwmetrics.New(motoClient(m.URL), target())
	// NOTE: moto answers percentile statistics with HTTP 500 (AWS-FACTS.md).
	s.P50Stat, s.P99Stat = "Average", "Average"
	m.Reset()
	w, err := s.Window(ctx, from, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Actions(); !slices.Equal(got, []string{"GetMetricData"}) {
		t.Fatalf("calls %v, want one GetMetricData", got)
	}
	call := m.Calls()[0]
	if call.IAMAction() != "cloudwatch:GetMetricData" {
		t.Errorf("IAM action %s", call.IAMAction())
	}
	// The query shape on the wire (awsQuery form).
	p := call.Params
	for k, want := range map[string]string{
		"MetricDataQueries.member.1.Id":                                          "req_blue",
		"MetricDataQueries.member.1.MetricStat.Metric.Namespace":                 "AWS/ApplicationELB",
		"MetricDataQueries.member.1.MetricStat.Metric.MetricName":                "RequestCount",
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name":  "LoadBalancer",
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": lbDim,
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.2.Name":  "TargetGroup",
		"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.2.Value": blueDim,
		"MetricDataQueries.member.1.MetricStat.Stat":                             "Sum",
		"MetricDataQueries.member.7.Id":                                          "req_green",
		"MetricDataQueries.member.7.MetricStat.Metric.Dimensions.member.2.Value": greenDim,
		"MetricDataQueries.member.13.Id":                                         "elb5xx",
		"MetricDataQueries.member.13.MetricStat.Metric.MetricName":               "HTTPCode_ELB_5XX_Count",
		"MetricDataQueries.member.13.MetricStat.Metric.Dimensions.member.1.Name": "LoadBalancer",
	} {
		if got := p.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if p.Has("MetricDataQueries.member.13.MetricStat.Metric.Dimensions.member.2.Name") {
		t.Error("the ELB 5xx query has a TargetGroup dimension; the metric has none")
	}
	if p.Has("MetricDataQueries.member.14.Id") {
		t.Error("more than 13 queries")
	}

	if w.Blue.NoData || w.Blue.Requests != 900 || w.Blue.Target5xx != 1 || w.Blue.ConnectionErrors != 0 || w.Blue.UnhealthyHosts != 0 {
		t.Errorf("blue %+v", w.Blue)
	}
	if !w.Blue.HasLatency || w.Blue.P99 != 300*time.Millisecond {
		t.Errorf("blue latency %+v (Average of 0.2 s and 0.4 s)", w.Blue)
	}
	if w.Green.NoData || w.Green.Requests != 100 || w.Green.Target5xx != 5 || w.Green.ConnectionErrors != 2 || w.Green.UnhealthyHosts != 1 {
		t.Errorf("green %+v", w.Green)
	}
	if w.ELB5xx != 3 {
		t.Errorf("ELB 5xx %v", w.ELB5xx)
	}

	// A window without requests has no data, not zero errors.
	empty, err := s.Window(ctx, now.Add(time.Hour), now.Add(time.Hour+5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Blue.NoData || !empty.Green.NoData {
		t.Errorf("empty window %+v", empty)
	}
}

func TestAlarmsAgainstMoto(t *testing.T) {
	m := emulators.StartMoto(t)
	ctx := context.Background()
	setup := motoClient(m.Direct)
	for _, name := range []string{"relay-target-5xx", "relay-p99", "other-team-5xx"} {
		_, err := setup.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(name), Namespace: aws.String(cwmetrics.Namespace), MetricName: aws.String("RequestCount"),
			Statistic: types.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		})
		if err != nil {
			t.Fatalf("put alarm %s: %v", name, err)
		}
	}
	for name, state := range map[string]types.StateValue{
		"relay-target-5xx": types.StateValueAlarm, "relay-p99": types.StateValueOk, "other-team-5xx": types.StateValueAlarm,
	} {
		if _, err := setup.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
			AlarmName: aws.String(name), StateValue: state, StateReason: aws.String("test"),
		}); err != nil {
			t.Fatalf("set alarm state %s: %v", name, err)
		}
	}
	m.Reset()
	got, err := cwmetrics.New(motoClient(m.URL), target()).Alarms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"relay-target-5xx"}) {
		t.Fatalf("alarms %v, want [relay-target-5xx]", got)
	}
	calls := m.Calls()
	if len(calls) != 1 || calls[0].IAMAction() != "cloudwatch:DescribeAlarms" {
		t.Fatalf("calls %v", m.Actions())
	}
	p := calls[0].Params
	if p.Get("AlarmNamePrefix") != "relay-" || p.Get("StateValue") != "ALARM" ||
		p.Get("AlarmTypes.member.1") != "MetricAlarm" || p.Get("AlarmTypes.member.2") != "CompositeAlarm" {
		t.Fatalf("DescribeAlarms params %v", p)
	}
}
