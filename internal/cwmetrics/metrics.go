package cwmetrics

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API lists the CloudWatch calls the adapter makes, with the SDK's
// signatures, so that *cloudwatch.Client satisfies it unchanged.
type API interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
	DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

// Actions are the IAM actions of the adapter's calls.
// NOTE: DescribeAlarms returns composite alarms only to a caller whose
// cloudwatch:DescribeAlarms permission is scoped to "*" (DescribeAlarms API
// reference); the template grants it on "*".
func Actions() []string {
	return []string{"cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"}
}

// Namespace is the namespace of Application Load Balancer metrics.
const Namespace = "AWS/ApplicationELB"

// Target names what the adapter reads: the load balancer, the blue and
// green target groups, and the pipeline's alarms.
type Target struct {
	// LoadBalancer is the LoadBalancer dimension: "app/<name>/<id>".
	LoadBalancer string
	// Blue and Green are TargetGroup dimensions: "targetgroup/<name>/<id>".
	Blue, Green string
	// AlarmPrefix starts the name of every pipeline alarm.
	AlarmPrefix string
}

// Source implements deploy.Metrics with one GetMetricData call per window
// and DescribeAlarms.
type Source struct {
	api API
	t   Target
	// P50Stat and P99Stat are the TargetResponseTime statistics; "p50"
	// and "p99" by default. Emulators without percentiles (moto) set
	// "Average".
	P50Stat, P99Stat string
}

// New returns a Source reading t through api.
func New(api API, t Target) *Source {
	return &Source{api: api, t: t, P50Stat: "p50", P99Stat: "p99"}
}

// The metrics read per target group, by query id prefix.
type query struct {
	id, metric, stat string
}

func (s *Source) perColour() []query {
	return []query{
		{"req", "RequestCount", "Sum"},
		{"t5xx", "HTTPCode_Target_5XX_Count", "Sum"},
		{"conn", "TargetConnectionErrorCount", "Sum"},
		{"p50", "TargetResponseTime", s.P50Stat},
		{"p99", "TargetResponseTime", s.P99Stat},
		// Maximum: any unhealthy candidate host in the window counts.
		{"unh", "UnHealthyHostCount", "Maximum"},
	}
}

// elb5xxID is the query id of the load balancer's own 5xx count.
const elb5xxID = "elb5xx"

func queryID(q query, c deploy.Colour) string { return q.id + "_" + string(c) }

// Queries returns the GetMetricData queries for a window of period seconds:
// every per-colour metric for blue and green, with both the LoadBalancer
// and TargetGroup dimensions, and the load balancer's ELB 5xx count.
// NOTE: target group metrics need LoadBalancer and TargetGroup together;
// HTTPCode_ELB_5XX_Count has only LoadBalancer (ALB CloudWatch metrics
// documentation, AWS-FACTS.md). Query ids must start with a lower-case
// letter (MetricDataQuery reference).
func (s *Source) Queries(period int32) []types.MetricDataQuery {
	lb := types.Dimension{Name: aws.String("LoadBalancer"), Value: aws.String(s.t.LoadBalancer)}
	var out []types.MetricDataQuery
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		tg := s.t.Blue
		if c == deploy.Green {
			tg = s.t.Green
		}
		for _, q := range s.perColour() {
			out = append(out, types.MetricDataQuery{
				Id: aws.String(queryID(q, c)),
				MetricStat: &types.MetricStat{
					Metric: &types.Metric{
						Namespace: aws.String(Namespace), MetricName: aws.String(q.metric),
						Dimensions: []types.Dimension{lb, {Name: aws.String("TargetGroup"), Value: aws.String(tg)}},
					},
					Period: aws.Int32(period), Stat: aws.String(q.stat),
				},
				ReturnData: aws.Bool(true),
			})
		}
	}
	out = append(out, types.MetricDataQuery{
		Id: aws.String(elb5xxID),
		MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(Namespace), MetricName: aws.String("HTTPCode_ELB_5XX_Count"),
				Dimensions: []types.Dimension{lb}},
			Period: aws.Int32(period), Stat: aws.String("Sum"),
		},
		ReturnData: aws.Bool(true),
	})
	return out
}

// Span returns the query's start, end and period for the window [from,
// to): whole minutes covering it, in a single period so that CloudWatch
// computes the percentiles over the whole window.
// NOTE: CloudWatch rounds a StartTime less than 15 days old down to the
// whole minute, and standard-resolution periods are multiples of 60 s
// (GetMetricData API reference).
func Span(from, to time.Time) (start, end time.Time, period int32) {
	start = from.UTC().Truncate(time.Minute)
	end = to.UTC().Truncate(time.Minute)
	if end.Before(to) {
		end = end.Add(time.Minute)
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	return start, end, int32(end.Sub(start) / time.Second)
}

// Window implements deploy.Metrics: one GetMetricData call (more only if
// CloudWatch paginates) for every metric of both colours.
func (s *Source) Window(ctx context.Context, from, to time.Time) (deploy.Window, error) {
	start, end, period := Span(from, to)
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: s.Queries(period),
		ScanBy: types.ScanByTimestampAscending,
	}
	values := map[string][]float64{}
	for {
		out, err := s.api.GetMetricData(ctx, in)
		if err != nil {
			return deploy.Window{}, classify("get metric data", err)
		}
		for _, r := range out.MetricDataResults {
			if r.StatusCode == types.StatusCodeForbidden || r.StatusCode == types.StatusCodeInternalError {
				return deploy.Window{}, deploy.Errorf(deploy.RequestRejected, "get metric data: query %s: %s %v",
					aws.ToString(r.Id), r.StatusCode, messages(r.Messages))
			}
			id := aws.ToString(r.Id)
			values[id] = append(values[id], r.Values...)
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	w := deploy.Window{From: from, To: to, ELB5xx: sum(values[elb5xxID])}
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		v := func(id string) []float64 { return values[id+"_"+string(c)] }
		smp := deploy.Sample{
			NoData: len(v("req")) == 0, Requests: sum(v("req")),
			// NOTE: ALB publishes HTTPCode_Target_5XX_Count and
			// TargetConnectionErrorCount only when they are non-zero
			// (ALB CloudWatch metrics documentation: metrics are reported
			// only when requests flow and counts are non-zero), so with
			// requests present, no datapoints means none. Without
			// requests, NoData says "nothing to judge".
			Target5xx: sum(v("t5xx")), ConnectionErrors: sum(v("conn")),
			UnhealthyHosts: maxOf(v("unh")),
		}
		if p50, p99 := v("p50"), v("p99"); len(p99) > 0 {
			// One period covers the window, so there is one value; were
			// CloudWatch to split it, the worst is the safe reading.
			smp.HasLatency = true
			smp.P50, smp.P99 = seconds(maxOf(p50)), seconds(maxOf(p99))
		}
		if c == deploy.Green {
			w.Green = smp
		} else {
			w.Blue = smp
		}
	}
	return w, nil
}

// seconds converts TargetResponseTime, which is in seconds.
func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func sum(vs []float64) float64 {
	t := 0.0
	for _, v := range vs {
		t += v
	}
	return t
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

func messages(ms []types.MessageData) []string {
	var out []string
	for _, m := range ms {
		out = append(out, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
	}
	return out
}

// Alarms implements deploy.Metrics: the metric and composite alarms named
// with the prefix that are in ALARM.
func (s *Source) Alarms(ctx context.Context) ([]string, error) {
	in := &cloudwatch.DescribeAlarmsInput{
		AlarmNamePrefix: aws.String(s.t.AlarmPrefix),
		// NOTE: without AlarmTypes DescribeAlarms returns metric alarms
		// only (DescribeAlarms API reference).
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm},
		StateValue: types.StateValueAlarm,
	}
	names := []string{}
	for {
		out, err := s.api.DescribeAlarms(ctx, in)
		if err != nil {
			return nil, classify("describe alarms "+s.t.AlarmPrefix+"*", err)
		}
		// The state is checked again here: the StateValue filter is what
		// AWS applies, but moto ignores it when AlarmNamePrefix is set,
		// and an alarm listed in another state must never roll back.
		for _, a := range out.MetricAlarms {
			if a.StateValue == types.StateValueAlarm {
				names = append(names, aws.ToString(a.AlarmName))
			}
		}
		for _, a := range out.CompositeAlarms {
			if a.StateValue == types.StateValueAlarm {
				names = append(names, aws.ToString(a.AlarmName))
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// classify turns an SDK error into a deploy error with a name Step Functions
// can match. nil stays nil.
func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		switch code {
		case "InvalidParameterValue", "InvalidParameterValueException", "InvalidParameterCombination",
			"InvalidParameterCombinationException", "MissingParameter", "MissingRequiredParameterException",
			"InvalidNextToken", "ValidationError", "ValidationException":
			return deploy.RequestRejected
		}
		return ""
	})
}
