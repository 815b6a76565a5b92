package awsapi

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/lab/monitoring"
)

const (
	lbDim    = "app/relay/50dc6c495c0c9188"
	greenDim = "targetgroup/relay-green/0123456789abcdef"
)

type cwFixture struct {
	store    *monitoring.Store
	alarms   *monitoring.Alarms
	client   *cloudwatch.Client
	endpoint string
	changes  []monitoring.StateChange
	now      time.Time
}

func newCWFixture(t *testing.T) *cwFixture {
	t.Helper()
	f := &cwFixture{now: time.Now().Truncate(time.Minute)}
	f.store = monitoring.NewStore(nil, 3*time.Hour)
	f.alarms = monitoring.NewAlarms(f.store, monitoring.AlarmsConfig{OnChange: func(c monitoring.StateChange) { f.changes = append(f.changes, c) }})
	r := NewRouter(slog.New(slog.DiscardHandler))
	r.Handle(ServiceCloudWatch, &CloudWatch{Store: f.store, Alarms: f.alarms})
	r.Handle(ServiceSecretsManager, &SecretsManager{Region: "us-east-1", AccountID: "123456789012", Secrets: []Secret{{Name: "relay/api-key", Value: "sk-lab"}}})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	f.endpoint = srv.URL
	f.client = cloudwatch.NewFromConfig(awsConfig(srv.URL))
	return f
}

func tgDims(tg string) []cwtypes.Dimension {
	return []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)}, {Name: aws.String("TargetGroup"), Value: aws.String(tg)}}
}

func (f *cwFixture) put(name string, at time.Time, v float64) {
	f.store.Put(monitoring.Metric{Namespace: "AWS/ApplicationELB", MetricName: name,
		Dimensions: []monitoring.Dimension{{Name: "LoadBalancer", Value: lbDim}, {Name: "TargetGroup", Value: greenDim}}}, at, v)
}

func TestCloudWatchGetMetricDataOverCBOR(t *testing.T) {
	f := newCWFixture(t)
	start := f.now.Add(-2 * time.Minute)
	// Minute 1: 200 requests, 10 of them 5xx, latencies 0.001..0.200 s.
	for i := 1; i <= 200; i++ {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		f.put("RequestCount", at, 1)
		f.put("TargetResponseTime", at, float64(i)/1000)
		if i <= 10 {
			f.put("HTTPCode_Target_5XX_Count", at, 1)
		}
	}
	stat := func(id, metric, stat string, ret bool) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(ret), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric), Dimensions: tgDims(greenDim)},
			Period: aws.Int32(60), Stat: aws.String(stat)}}
	}
	out, err := f.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(f.now), ScanBy: cwtypes.ScanByTimestampAscending,
		MetricDataQueries: []cwtypes.MetricDataQuery{
			stat("req", "RequestCount", "Sum", true),
			stat("err", "HTTPCode_Target_5XX_Count", "Sum", false),
			stat("p99", "TargetResponseTime", "p99", true),
			stat("p50", "TargetResponseTime", "p50.00", true),
			stat("avg", "TargetResponseTime", "Average", true),
			{Id: aws.String("rate"), Expression: aws.String("FILL(err,0)/req*100"), Label: aws.String("5xx %")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, r := range out.MetricDataResults {
		got[aws.ToString(r.Id)] = r.Values
		if r.StatusCode != cwtypes.StatusCodeComplete {
			t.Errorf("%s status %s", aws.ToString(r.Id), r.StatusCode)
		}
		if len(r.Timestamps) != len(r.Values) {
			t.Errorf("%s: %d timestamps, %d values", aws.ToString(r.Id), len(r.Timestamps), len(r.Values))
		}
		if len(r.Timestamps) > 0 && !r.Timestamps[0].Equal(start) {
			t.Errorf("%s: first bucket %s, want %s", aws.ToString(r.Id), r.Timestamps[0], start)
		}
	}
	want := map[string][]float64{"req": {200}, "p99": {0.198}, "p50": {0.1}, "avg": {0.1005}, "rate": {5}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}

	// No traffic on blue: an empty series, not zero.
	blue := stat("blue", "RequestCount", "Sum", true)
	blue.MetricStat.Metric.Dimensions = tgDims("targetgroup/relay-blue/fedcba9876543210")
	out, err = f.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(f.now), MetricDataQueries: []cwtypes.MetricDataQuery{blue}})
	if err != nil || len(out.MetricDataResults) != 1 || len(out.MetricDataResults[0].Values) != 0 {
		t.Fatalf("no data: %+v %v", out, err)
	}

	// A bad expression is a ValidationError, typed by the SDK.
	_, err = f.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(f.now),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("e1"), Expression: aws.String("req +")}}})
	var ve *cwtypes.ValidationException
	if !errors.As(err, &ve) || ve.ErrorCode() != "ValidationError" {
		t.Fatalf("bad expression: %v", err)
	}
}

func TestCloudWatchAlarmsOverCBOR(t *testing.T) {
	f := newCWFixture(t)
	for _, name := range []string{"relayshift-blue-5xx", "relayshift-green-5xx", "relayshift-green-p99", "unrelated"} {
		in := &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(name), AlarmDescription: aws.String("test"), EvaluationPeriods: aws.Int32(2), DatapointsToAlarm: aws.Int32(1),
			Threshold: aws.Float64(1.5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
			Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("TargetResponseTime"), Dimensions: tgDims(greenDim),
			ExtendedStatistic: aws.String("p99"), Period: aws.Int32(60),
		}
		if _, err := f.client.PutMetricAlarm(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.client.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("relayshift-green-5xx"),
		StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("testing the rollback path"), StateReasonData: aws.String(`{"version":"1.0"}`)}); err != nil {
		t.Fatal(err)
	}
	if len(f.changes) != 1 || f.changes[0].Alarm.AlarmName != "relayshift-green-5xx" {
		t.Fatalf("state changes: %+v", f.changes)
	}
	out, err := f.client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("relayshift-"), AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range out.MetricAlarms {
		names = append(names, aws.ToString(a.AlarmName))
	}
	if diff := cmp.Diff([]string{"relayshift-blue-5xx", "relayshift-green-5xx", "relayshift-green-p99"}, names); diff != "" {
		t.Fatalf("prefix (-want +got):\n%s", diff)
	}
	a := out.MetricAlarms[1]
	if a.StateValue != cwtypes.StateValueAlarm || aws.ToString(a.StateReason) != "testing the rollback path" || aws.ToString(a.ExtendedStatistic) != "p99" ||
		aws.ToInt32(a.Period) != 60 || aws.ToFloat64(a.Threshold) != 1.5 || a.ComparisonOperator != cwtypes.ComparisonOperatorGreaterThanThreshold ||
		aws.ToString(a.AlarmArn) != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:relayshift-green-5xx" || len(a.Dimensions) != 2 ||
		a.StateUpdatedTimestamp == nil || time.Since(*a.StateUpdatedTimestamp) > time.Minute {
		t.Fatalf("alarm %+v", a)
	}
	alarming, err := f.client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("relayshift-"), StateValue: cwtypes.StateValueAlarm})
	if err != nil || len(alarming.MetricAlarms) != 1 {
		t.Fatalf("StateValue filter: %+v %v", alarming, err)
	}
	// Paging.
	page, err := f.client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(3)})
	if err != nil || len(page.MetricAlarms) != 3 || page.NextToken == nil {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = f.client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(3), NextToken: page.NextToken})
	if err != nil || len(page.MetricAlarms) != 1 || aws.ToString(page.MetricAlarms[0].AlarmName) != "unrelated" || page.NextToken != nil {
		t.Fatalf("page 2: %+v %v", page, err)
	}

	// Errors come back as the SDK's typed exceptions with the query codes.
	_, err = f.client.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("missing"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("x")})
	var nf *cwtypes.ResourceNotFound
	if !errors.As(err, &nf) || nf.ErrorCode() != "ResourceNotFound" {
		t.Fatalf("unknown alarm: %v", err)
	}
	_, err = f.client.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"a"}, AlarmNamePrefix: aws.String("b")})
	var ic *cwtypes.InvalidParameterCombinationException
	if !errors.As(err, &ic) || ic.ErrorCode() != "InvalidParameterCombination" {
		t.Fatalf("names and prefix: %v", err)
	}
	_, err = f.client.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("bad"), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		Namespace: aws.String("N"), MetricName: aws.String("M"), Statistic: cwtypes.StatisticSum, ExtendedStatistic: aws.String("p99"), Period: aws.Int32(60)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterCombination" {
		t.Fatalf("Statistic and ExtendedStatistic: %v", err)
	}
}

func TestSecretsManagerGetSecretValue(t *testing.T) {
	f := newCWFixture(t)
	sm := secretsmanager.NewFromConfig(awsConfig(f.endpoint))
	arn := (&SecretsManager{Region: "us-east-1", AccountID: "123456789012"}).ARN("relay/api-key")
	for _, id := range []string{"relay/api-key", arn} {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.SecretString) != "sk-lab" || aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "relay/api-key" {
			t.Fatalf("%s: %+v", id, out)
		}
	}
	_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("unknown secret: %v", err)
	}
}
