package cwmetrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/cwmetrics"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
)

// The test server decodes and encodes CBOR with smithy-go's encoding/cbor,
// which the SDK already depends on: no new module for a test.

const (
	lbDim    = "app/relay/50dc6c495c0c9188"
	blueDim  = "targetgroup/relay-blue/73e2d6bc24d8a067"
	greenDim = "targetgroup/relay-green/2453ed029918f21f"
)

func target() cwmetrics.Target {
	return cwmetrics.Target{LoadBalancer: lbDim, Blue: blueDim, Green: greenDim, AlarmPrefix: "relay-"}
}

// plain turns a CBOR value into plain Go values (map[string]any, []any,
// string, float64, bool, time.Time) that cmp can compare.
func plain(t *testing.T, v cbor.Value) any {
	t.Helper()
	switch x := v.(type) {
	case cbor.Map:
		m := map[string]any{}
		for k, e := range x {
			m[k] = plain(t, e)
		}
		return m
	case cbor.List:
		l := []any{}
		for _, e := range x {
			l = append(l, plain(t, e))
		}
		return l
	case cbor.String:
		return string(x)
	case cbor.Bool:
		return bool(x)
	case cbor.Uint:
		return float64(x)
	case cbor.NegInt:
		return -float64(x)
	case cbor.Float32:
		return float64(x)
	case cbor.Float64:
		return float64(x)
	case *cbor.Tag:
		tm, err := cbor.AsTime(x)
		if err != nil {
			t.Fatalf("tag %d: %v", x.ID, err)
		}
		return tm.UTC()
	}
	t.Fatalf("unexpected CBOR value %T", v)
	return nil
}

func epoch(tm time.Time) *cbor.Tag {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(tm.UnixMilli()) / 1e3)}
}

// cloudWatchCBOR is a CloudWatch endpoint speaking rpcv2-CBOR: it records
// each request's operation and body, and answers with the next canned
// response for that operation.
type cloudWatchCBOR struct {
	t         *testing.T
	mu        sync.Mutex
	requests  []cborRequest
	responses map[string][]cannedResponse
}

type cborRequest struct {
	Operation string
	Body      any
}

type cannedResponse struct {
	status int
	body   cbor.Map
}

func (s *cloudWatchCBOR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/service/GraniteServiceVersion20100801/operation/"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) {
		http.Error(w, "not rpcv2: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor" {
		http.Error(w, "missing rpcv2-CBOR headers", http.StatusBadRequest)
		return
	}
	op := strings.TrimPrefix(r.URL.Path, prefix)
	raw, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(raw)
	if err != nil {
		http.Error(w, "bad CBOR: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, cborRequest{Operation: op, Body: plain(s.t, v)})
	queue := s.responses[op]
	if len(queue) == 0 {
		s.mu.Unlock()
		http.Error(w, "no canned response for "+op, http.StatusInternalServerError)
		return
	}
	resp := queue[0]
	s.responses[op] = queue[1:]
	s.mu.Unlock()
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(resp.status)
	_, _ = w.Write(cbor.Encode(resp.body))
}

func startCBOR(t *testing.T, responses map[string][]cannedResponse) (*cloudWatchCBOR, *cloudwatch.Client) {
	t.Helper()
	s := &cloudWatchCBOR{t: t, responses: responses}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := cloudwatch.NewFromConfig(emulators.AWSConfig(srv.URL), func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
	return s, c
}

func result(id string, at time.Time, values ...float64) cbor.Value {
	ts, vs := cbor.List{}, cbor.List{}
	for _, v := range values {
		ts = append(ts, epoch(at))
		vs = append(vs, cbor.Float64(v))
	}
	return cbor.Map{"Id": cbor.String(id), "Label": cbor.String(id), "StatusCode": cbor.String("Complete"),
		"Timestamps": ts, "Values": vs}
}

// wantQueries is the query set written out by hand: every per-colour
// metric with LoadBalancer + TargetGroup, and the ELB 5xx with
// LoadBalancer only.
func wantQueries(period float64, p50, p99 string) []any {
	var out []any
	dims := func(tg string) []any {
		d := []any{map[string]any{"Name": "LoadBalancer", "Value": lbDim}}
		if tg != "" {
			d = append(d, map[string]any{"Name": "TargetGroup", "Value": tg})
		}
		return d
	}
	q := func(id, metric, stat, tg string) any {
		return map[string]any{
			"Id": id, "ReturnData": true,
			"MetricStat": map[string]any{
				"Metric": map[string]any{"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dims(tg)},
				"Period": period, "Stat": stat,
			},
		}
	}
	for _, c := range []struct{ name, tg string }{{"blue", blueDim}, {"green", greenDim}} {
		out = append(out,
			q("req_"+c.name, "RequestCount", "Sum", c.tg),
			q("t5xx_"+c.name, "HTTPCode_Target_5XX_Count", "Sum", c.tg),
			q("conn_"+c.name, "TargetConnectionErrorCount", "Sum", c.tg),
			q("p50_"+c.name, "TargetResponseTime", p50, c.tg),
			q("p99_"+c.name, "TargetResponseTime", p99, c.tg),
			q("unh_"+c.name, "UnHealthyHostCount", "Maximum", c.tg),
		)
	}
	return append(out, q("elb5xx", "HTTPCode_ELB_5XX_Count", "Sum", ""))
}

func TestWindowCBOR(t *testing.T) {
	from := time.Date(2026, 11, 27, 10, 0, 27, 0, time.UTC)
	to := from.Add(5 * time.Minute)
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	srv, client := startCBOR(t, map[string][]cannedResponse{
		"GetMetricData": {
			// CloudWatch paginates: the first page says there is more.
			{200, cbor.Map{"MetricDataResults": cbor.List{
				result("req_blue", start, 9000), result("t5xx_blue", start, 9), result("p50_blue", start, 0.31),
				result("p99_blue", start, 0.88), result("unh_blue", start, 0), result("req_green", start, 1000),
			}, "NextToken": cbor.String("page2")}},
			{200, cbor.Map{"MetricDataResults": cbor.List{
				// green had no connection errors and no unhealthy-host
				// datapoints: CloudWatch returns the query with no values.
				result("t5xx_green", start, 50), result("conn_green", start), result("p50_green", start, 0.32),
				result("p99_green", start, 0.91), result("elb5xx", start, 2),
			}}},
		},
	})
	got, err := cwmetrics.New(client, target()).Window(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := deploy.Window{
		From: from, To: to, ELB5xx: 2,
		Blue: deploy.Sample{Requests: 9000, Target5xx: 9, HasLatency: true, P50: 310 * time.Millisecond, P99: 880 * time.Millisecond},
		Green: deploy.Sample{Requests: 1000, Target5xx: 50, HasLatency: true, P50: 320 * time.Millisecond,
			P99: 910 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Duration) bool { return (a - b).Abs() < time.Microsecond })); diff != "" {
		t.Fatalf("window (-want +got):\n%s", diff)
	}

	if len(srv.requests) != 2 {
		t.Fatalf("%d requests, want 2 (one call and its second page)", len(srv.requests))
	}
	// The window 10:00:27-10:05:27 is queried as whole minutes,
	// 10:00-10:06, in one 360 s period.
	wantBody := map[string]any{
		"StartTime": start, "EndTime": start.Add(6 * time.Minute), "ScanBy": "TimestampAscending",
		"MetricDataQueries": wantQueries(360, "p50", "p99"),
	}
	if diff := cmp.Diff(cborRequest{"GetMetricData", wantBody}, srv.requests[0]); diff != "" {
		t.Fatalf("first request (-want +got):\n%s", diff)
	}
	wantBody["NextToken"] = "page2"
	if diff := cmp.Diff(cborRequest{"GetMetricData", wantBody}, srv.requests[1]); diff != "" {
		t.Fatalf("second request (-want +got):\n%s", diff)
	}
}

func TestWindowNoData(t *testing.T) {
	from := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var results cbor.List
	for _, q := range []string{"req", "t5xx", "conn", "p50", "p99", "unh"} {
		for _, c := range []string{"blue", "green"} {
			results = append(results, result(q+"_"+c, from))
		}
	}
	results = append(results, result("req_blue", from, 10)) // blue served, green did not
	_, client := startCBOR(t, map[string][]cannedResponse{"GetMetricData": {{200, cbor.Map{"MetricDataResults": results}}}})
	got, err := cwmetrics.New(client, target()).Window(context.Background(), from, from.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Green.NoData || got.Green.HasLatency || got.Blue.NoData || got.Blue.Requests != 10 {
		t.Fatalf("window %+v", got)
	}
}

func TestAlarmsCBOR(t *testing.T) {
	srv, client := startCBOR(t, map[string][]cannedResponse{
		"DescribeAlarms": {
			{200, cbor.Map{
				"MetricAlarms":    cbor.List{cbor.Map{"AlarmName": cbor.String("relay-target-5xx"), "StateValue": cbor.String("ALARM")}},
				"CompositeAlarms": cbor.List{cbor.Map{"AlarmName": cbor.String("relay-any"), "StateValue": cbor.String("ALARM")}},
				"NextToken":       cbor.String("more"),
			}},
			{200, cbor.Map{"MetricAlarms": cbor.List{cbor.Map{"AlarmName": cbor.String("relay-p99"), "StateValue": cbor.String("ALARM")}}}},
		},
	})
	got, err := cwmetrics.New(client, target()).Alarms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"relay-any", "relay-p99", "relay-target-5xx"}, got); diff != "" {
		t.Fatalf("alarms (-want +got):\n%s", diff)
	}
	want := []cborRequest{
		{"DescribeAlarms", map[string]any{"AlarmNamePrefix": "relay-", "AlarmTypes": []any{"MetricAlarm", "CompositeAlarm"}, "StateValue": "ALARM"}},
		{"DescribeAlarms", map[string]any{"AlarmNamePrefix": "relay-", "AlarmTypes": []any{"MetricAlarm", "CompositeAlarm"}, "StateValue": "ALARM", "NextToken": "more"}},
	}
	if diff := cmp.Diff(want, srv.requests); diff != "" {
		t.Fatalf("requests (-want +got):\n%s", diff)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		status int
		typ    string
		want   deploy.Code
	}{
		{400, "Throttling", deploy.Throttled},
		{403, "AccessDenied", deploy.AccessDenied},
		{400, "InvalidParameterValue", deploy.RequestRejected},
		{500, "InternalServiceError", deploy.InternalError},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			body := cbor.Map{"__type": cbor.String(tc.typ), "message": cbor.String("no")}
			_, client := startCBOR(t, map[string][]cannedResponse{
				"GetMetricData":  {{tc.status, body}},
				"DescribeAlarms": {{tc.status, body}},
			})
			s := cwmetrics.New(client, target())
			_, err := s.Window(context.Background(), time.Now().Add(-time.Minute), time.Now())
			if deploy.CodeOf(err) != tc.want {
				t.Errorf("window: %v, want %s", err, tc.want)
			}
			_, err = s.Alarms(context.Background())
			if deploy.CodeOf(err) != tc.want {
				t.Errorf("alarms: %v, want %s", err, tc.want)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	at := func(h, m, s int) time.Time { return time.Date(2026, 11, 27, h, m, s, 0, time.UTC) }
	for _, tc := range []struct {
		from, to, start, end time.Time
		period               int32
	}{
		{at(10, 0, 27), at(10, 5, 27), at(10, 0, 0), at(10, 6, 0), 360},
		{at(10, 0, 0), at(10, 5, 0), at(10, 0, 0), at(10, 5, 0), 300},
		{at(10, 0, 10), at(10, 0, 20), at(10, 0, 0), at(10, 1, 0), 60},
	} {
		start, end, period := cwmetrics.Span(tc.from, tc.to)
		if !start.Equal(tc.start) || !end.Equal(tc.end) || period != tc.period {
			t.Errorf("Span(%s, %s) = %s, %s, %d", tc.from.Format(time.TimeOnly), tc.to.Format(time.TimeOnly),
				start.Format(time.TimeOnly), end.Format(time.TimeOnly), period)
		}
	}
}
