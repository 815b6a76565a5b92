package awsapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/lab/monitoring"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// cloudWatchService is the Smithy service name in rpcv2-CBOR paths.
const cloudWatchService = "GraniteServiceVersion20100801"

// CloudWatch serves the CloudWatch API in rpcv2-CBOR, the protocol the
// SDK's cloudwatch client uses by default: POST
// /service/GraniteServiceVersion20100801/operation/<Operation>.
type CloudWatch struct {
	Store  *monitoring.Store
	Alarms *monitoring.Alarms
	Log    *slog.Logger
}

// cwShapes maps the awsQuery error codes to the Smithy error shapes of
// the SDK's type registry (schemas: @awsQueryError).
var cwShapes = map[string]string{
	monitoring.CodeValidation:            "ValidationException",
	monitoring.CodeInvalidParameterValue: "InvalidParameterValueException",
	monitoring.CodeInvalidCombination:    "InvalidParameterCombinationException",
	monitoring.CodeMissingParameter:      "MissingRequiredParameterException",
	monitoring.CodeResourceNotFound:      "ResourceNotFound",
	monitoring.CodeInvalidFormat:         "InvalidFormatFault",
	monitoring.CodeInvalidNextToken:      "InvalidNextToken",
	monitoring.CodeLimitExceeded:         "LimitExceededFault",
	"InternalServiceError":               "InternalServiceFault",
}

func (c *CloudWatch) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func (c *CloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	prefix := "/service/" + cloudWatchService + "/operation/"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) {
		c.writeError(w, http.StatusNotFound, "UnknownOperationException", "the lab's CloudWatch speaks rpcv2-CBOR only: POST "+prefix+"<Operation>")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		c.writeError(w, http.StatusBadRequest, monitoring.CodeValidation, "cannot read the request body")
		return
	}
	op := strings.TrimPrefix(r.URL.Path, prefix)
	var out any
	switch op {
	case "GetMetricData":
		out, err = c.getMetricData(body)
	case "DescribeAlarms":
		out, err = c.describeAlarms(body)
	case "PutMetricAlarm":
		out, err = c.putMetricAlarm(body)
	case "SetAlarmState":
		out, err = c.setAlarmState(body)
	default:
		c.writeError(w, http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("operation %s is not served by the relayshift lab (GetMetricData, DescribeAlarms, PutMetricAlarm, SetAlarmState)", op))
		return
	}
	if err != nil {
		var me *monitoring.Error
		if errors.As(err, &me) {
			c.log().Info("CloudWatch error", "operation", op, "code", me.Code, "message", me.Message)
			c.writeError(w, http.StatusBadRequest, me.Code, me.Message)
			return
		}
		c.log().Error("CloudWatch internal error", "operation", op, "error", err)
		c.writeError(w, http.StatusInternalServerError, "InternalServiceError", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(encodeCBOR(out))
}

// writeError writes the rpcv2-CBOR error shape: {"__type": shape id,
// "message"}, plus the awsQuery-compatible code in X-Amzn-Query-Error
// ("Code;Sender"), which the SDK prefers for CloudWatch (a service with
// the @awsQueryCompatible trait).
func (c *CloudWatch) writeError(w http.ResponseWriter, status int, code, message string) {
	shape, ok := cwShapes[code]
	if !ok {
		shape = code
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	w.WriteHeader(status)
	w.Write(encodeCBOR(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{"com.amazonaws.cloudwatch#" + shape, message}))
}

func badInput(err error) error {
	return &monitoring.Error{Code: monitoring.CodeValidation, Message: "invalid request: " + err.Error()}
}

func (c *CloudWatch) getMetricData(body []byte) (any, error) {
	var in struct {
		MetricDataQueries []monitoring.Query
		StartTime         *time.Time
		EndTime           *time.Time
		ScanBy            string
		MaxDatapoints     *int
		NextToken         string
	}
	if err := decodeCBOR(body, &in); err != nil {
		return nil, badInput(err)
	}
	if in.StartTime == nil || in.EndTime == nil {
		return nil, &monitoring.Error{Code: monitoring.CodeMissingParameter, Message: "The parameters StartTime and EndTime are required."}
	}
	switch in.ScanBy {
	case "", "TimestampDescending", "TimestampAscending":
	default:
		return nil, &monitoring.Error{Code: monitoring.CodeValidation, Message: fmt.Sprintf("The value %s for parameter ScanBy is not valid.", in.ScanBy)}
	}
	res, err := c.Store.GetMetricData(in.MetricDataQueries, *in.StartTime, *in.EndTime, in.ScanBy == "TimestampAscending")
	if err != nil {
		return nil, err
	}
	type message struct {
		Code  string `json:"Code,omitempty"`
		Value string `json:"Value,omitempty"`
	}
	type result struct {
		ID         string      `json:"Id"`
		Label      string      `json:"Label"`
		Timestamps []time.Time `json:"Timestamps"`
		Values     []float64   `json:"Values"`
		StatusCode string      `json:"StatusCode"`
	}
	out := struct {
		MetricDataResults []result  `json:"MetricDataResults"`
		Messages          []message `json:"Messages"`
	}{MetricDataResults: []result{}, Messages: []message{}}
	for _, r := range res {
		out.MetricDataResults = append(out.MetricDataResults, result{ID: r.ID, Label: r.Label, Timestamps: r.Timestamps, Values: r.Values, StatusCode: r.StatusCode})
	}
	return out, nil
}

// metricAlarm is types.MetricAlarm.
type metricAlarm struct {
	AlarmName                          string                 `json:"AlarmName"`
	AlarmArn                           string                 `json:"AlarmArn"`
	AlarmDescription                   string                 `json:"AlarmDescription,omitempty"`
	AlarmConfigurationUpdatedTimestamp time.Time              `json:"AlarmConfigurationUpdatedTimestamp"`
	ActionsEnabled                     bool                   `json:"ActionsEnabled"`
	OKActions                          []string               `json:"OKActions"`
	AlarmActions                       []string               `json:"AlarmActions"`
	InsufficientDataActions            []string               `json:"InsufficientDataActions"`
	StateValue                         string                 `json:"StateValue"`
	StateReason                        string                 `json:"StateReason"`
	StateReasonData                    string                 `json:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              time.Time              `json:"StateUpdatedTimestamp"`
	StateTransitionedTimestamp         time.Time              `json:"StateTransitionedTimestamp"`
	MetricName                         string                 `json:"MetricName,omitempty"`
	Namespace                          string                 `json:"Namespace,omitempty"`
	Statistic                          string                 `json:"Statistic,omitempty"`
	ExtendedStatistic                  string                 `json:"ExtendedStatistic,omitempty"`
	Dimensions                         []monitoring.Dimension `json:"Dimensions"`
	Period                             int                    `json:"Period,omitempty"`
	Unit                               string                 `json:"Unit,omitempty"`
	EvaluationPeriods                  int                    `json:"EvaluationPeriods"`
	DatapointsToAlarm                  int                    `json:"DatapointsToAlarm,omitempty"`
	Threshold                          *float64               `json:"Threshold,omitempty"`
	ComparisonOperator                 string                 `json:"ComparisonOperator"`
	TreatMissingData                   string                 `json:"TreatMissingData,omitempty"`
	EvaluateLowSampleCountPercentile   string                 `json:"EvaluateLowSampleCountPercentile,omitempty"`
	Metrics                            []monitoring.Query     `json:"Metrics,omitempty"`
}

func (c *CloudWatch) describeAlarms(body []byte) (any, error) {
	var in struct {
		AlarmNames          []string
		AlarmNamePrefix     string
		AlarmTypes          []string
		StateValue          string
		ActionPrefix        string
		ChildrenOfAlarmName string
		ParentsOfAlarmName  string
		MaxRecords          int
		NextToken           string
	}
	if err := decodeCBOR(body, &in); err != nil {
		return nil, badInput(err)
	}
	if in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != "" {
		return nil, &monitoring.Error{Code: monitoring.CodeValidation, Message: "composite alarms (ChildrenOfAlarmName, ParentsOfAlarmName) are not supported by the relayshift lab"}
	}
	if len(in.AlarmNames) > 100 {
		return nil, &monitoring.Error{Code: monitoring.CodeValidation, Message: "The collection AlarmNames must not have a size greater than 100."}
	}
	if in.MaxRecords == 0 {
		in.MaxRecords = 50
	}
	if in.MaxRecords < 1 || in.MaxRecords > 100 {
		return nil, &monitoring.Error{Code: monitoring.CodeValidation, Message: "The parameter MaxRecords must be between 1 and 100."}
	}
	alarms, err := c.Alarms.Describe(monitoring.AlarmFilter{Names: in.AlarmNames, NamePrefix: in.AlarmNamePrefix, StateValue: in.StateValue, Types: in.AlarmTypes, ActionPrefix: in.ActionPrefix})
	if err != nil {
		return nil, err
	}
	// NextToken is the name of the last alarm of the previous page.
	start := 0
	if in.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, &monitoring.Error{Code: monitoring.CodeInvalidNextToken, Message: "The service couldn't process your request because the next token is not valid."}
		}
		start = slices.IndexFunc(alarms, func(a monitoring.Alarm) bool { return a.AlarmName > string(after) })
		if start < 0 {
			start = len(alarms)
		}
	}
	page := alarms[start:]
	next := ""
	if len(page) > in.MaxRecords {
		page = page[:in.MaxRecords]
		next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].AlarmName))
	}
	out := struct {
		MetricAlarms    []metricAlarm `json:"MetricAlarms"`
		CompositeAlarms []struct{}    `json:"CompositeAlarms"`
		NextToken       string        `json:"NextToken,omitempty"`
	}{MetricAlarms: []metricAlarm{}, CompositeAlarms: []struct{}{}, NextToken: next}
	for _, a := range page {
		enabled := a.ActionsEnabled == nil || *a.ActionsEnabled
		out.MetricAlarms = append(out.MetricAlarms, metricAlarm{
			AlarmName: a.AlarmName, AlarmArn: a.ARN, AlarmDescription: a.AlarmDescription,
			AlarmConfigurationUpdatedTimestamp: a.ConfigUpdated, ActionsEnabled: enabled,
			OKActions: nonNil(a.OKActions), AlarmActions: nonNil(a.AlarmActions), InsufficientDataActions: nonNil(a.InsufficientDataActions),
			StateValue: a.State.Value, StateReason: a.State.Reason, StateReasonData: a.State.ReasonData,
			StateUpdatedTimestamp: a.State.Timestamp, StateTransitionedTimestamp: a.StateTransitioned,
			MetricName: a.MetricName, Namespace: a.Namespace, Statistic: a.Statistic, ExtendedStatistic: a.ExtendedStatistic,
			Dimensions: nonNil(a.Dimensions), Period: a.Period, Unit: a.Unit, EvaluationPeriods: a.EvaluationPeriods,
			DatapointsToAlarm: a.DatapointsToAlarm, Threshold: a.Threshold, ComparisonOperator: a.ComparisonOperator,
			TreatMissingData: a.TreatMissingData, EvaluateLowSampleCountPercentile: a.EvaluateLowSampleCountPercentile, Metrics: a.Metrics,
		})
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (c *CloudWatch) putMetricAlarm(body []byte) (any, error) {
	var spec monitoring.AlarmSpec
	if err := decodeCBOR(body, &spec); err != nil {
		return nil, badInput(err)
	}
	if err := c.Alarms.Put(spec); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (c *CloudWatch) setAlarmState(body []byte) (any, error) {
	var in struct {
		AlarmName       string
		StateValue      string
		StateReason     string
		StateReasonData string
	}
	if err := decodeCBOR(body, &in); err != nil {
		return nil, badInput(err)
	}
	if err := c.Alarms.SetState(in.AlarmName, in.StateValue, in.StateReason, in.StateReasonData); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
