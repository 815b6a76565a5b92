package statemachine

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// ServeHTTP serves the Step Functions API as the Go SDK's sfn client calls
// it: awsJson1_0, POST / with X-Amz-Target "AWSStepFunctions.<Operation>".
// Requests are not authenticated (SigV4 headers are ignored).
// NOTE: errors are HTTP 400 with {"__type": code, "message": ...}; the SDK
// reads the code from the X-Amzn-ErrorType header or the body's __type
// (aws-sdk-go-v2 service/sfn deserializers.go), and timestamps are epoch
// seconds (awsJson1_0).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	w.Header().Set("X-Amzn-Requestid", reqID)
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	if r.Method != http.MethodPost || !ok {
		writeAPIError(w, http.StatusBadRequest, apiErr("UnknownOperationException", "expected POST with X-Amz-Target AWSStepFunctions.<Operation>"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, apiErr("SerializationException", "read request: %v", err))
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	handlers := map[string]func([]byte) (any, error){
		"CreateStateMachine":   s.apiCreateStateMachine,
		"DescribeStateMachine": s.apiDescribeStateMachine,
		"ListStateMachines":    s.apiListStateMachines,
		"StartExecution":       s.apiStartExecution,
		"DescribeExecution":    s.apiDescribeExecution,
		"StopExecution":        s.apiStopExecution,
		"ListExecutions":       s.apiListExecutions,
		"GetExecutionHistory":  s.apiGetExecutionHistory,
	}
	h, ok := handlers[op]
	if !ok {
		writeAPIError(w, http.StatusBadRequest, apiErr("UnknownOperationException", "the lab does not implement %s", op))
		return
	}
	out, err := h(body)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			s.log.Error("step functions API", "operation", op, "error", err)
			writeAPIError(w, http.StatusInternalServerError, apiErr("InternalFailure", "internal error"))
			return
		}
		writeAPIError(w, http.StatusBadRequest, ae)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func writeAPIError(w http.ResponseWriter, status int, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

func decodeRequest(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr("SerializationException", "invalid request body: %v", err)
	}
	return nil
}

func required(field, value string) error {
	if value == "" {
		return apiErr("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

func (s *Service) apiCreateStateMachine(body []byte) (any, error) {
	var in struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
		RoleArn    string `json:"roleArn"`
		Type       string `json:"type"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	for _, f := range [][2]string{{"name", in.Name}, {"definition", in.Definition}, {"roleArn", in.RoleArn}} {
		if err := required(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if in.Type != "" && in.Type != "STANDARD" {
		return nil, apiErr("StateMachineTypeNotSupported", "the lab runs STANDARD state machines only, not %s", in.Type)
	}
	// A definition that arrives through the API has already been
	// substituted (CloudFormation does it): an unresolved ${...} is an
	// error.
	def, err := Load([]byte(in.Definition), nil)
	if err != nil {
		return nil, apiErr("InvalidDefinition", "Invalid State Machine Definition: '%v'", err)
	}
	sm, err := s.CreateStateMachine(in.Name, in.RoleArn, def)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stateMachineArn": sm.ARN, "creationDate": epochSeconds(sm.Created)}, nil
}

func (s *Service) apiDescribeStateMachine(body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	sm, err := s.DescribeStateMachine(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"stateMachineArn": sm.ARN, "name": sm.Name, "status": "ACTIVE", "definition": sm.Definition,
		"roleArn": sm.RoleARN, "type": "STANDARD", "creationDate": epochSeconds(sm.Created),
		"loggingConfiguration": map[string]any{"level": "OFF", "includeExecutionData": false},
	}, nil
}

func (s *Service) apiListStateMachines(body []byte) (any, error) {
	var in struct {
		MaxResults int32  `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	all := s.StateMachines()
	page, next, err := paginate(len(all), in.MaxResults, in.NextToken, "state-machines")
	if err != nil {
		return nil, err
	}
	items := []any{}
	for _, sm := range all[page[0]:page[1]] {
		items = append(items, map[string]any{
			"stateMachineArn": sm.ARN, "name": sm.Name, "type": "STANDARD", "creationDate": epochSeconds(sm.Created),
		})
	}
	return withToken(map[string]any{"stateMachines": items}, next), nil
}

func (s *Service) apiStartExecution(body []byte) (any, error) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Name            string  `json:"name"`
		Input           *string `json:"input"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	if err := required("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	input := ""
	if in.Input != nil {
		input = *in.Input
	}
	x, err := s.StartExecution(in.StateMachineArn, in.Name, input)
	if err != nil {
		return nil, err
	}
	return map[string]any{"executionArn": x.ARN, "startDate": epochSeconds(x.StartDate)}, nil
}

func (s *Service) apiDescribeExecution(body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	x, err := s.DescribeExecution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"executionArn": x.ARN, "stateMachineArn": x.StateMachineARN, "name": x.Name, "status": x.Status,
		"startDate": epochSeconds(x.StartDate), "input": x.Input, "inputDetails": map[string]any{"included": true},
		"redriveCount": 0,
	}
	if !x.StopDate.IsZero() {
		out["stopDate"] = epochSeconds(x.StopDate)
	}
	if x.Status == StatusSucceeded {
		out["output"] = x.Output
		out["outputDetails"] = map[string]any{"included": true}
	}
	if x.Error != "" {
		out["error"] = x.Error
	}
	if x.Cause != "" {
		out["cause"] = x.Cause
	}
	return out, nil
}

func (s *Service) apiStopExecution(body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	// NOTE: error is at most 256 characters, cause at most 32768 (API
	// reference, StopExecution).
	if len(in.Error) > 256 || len(in.Cause) > 32768 {
		return nil, apiErr("ValidationException", "1 validation error detected: error must be at most 256 and cause at most 32768 characters")
	}
	stop, err := s.StopExecution(in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopDate": epochSeconds(stop)}, nil
}

var executionStatuses = []string{StatusRunning, StatusSucceeded, StatusFailed, "TIMED_OUT", StatusAborted, "PENDING_REDRIVE"}

func (s *Service) apiListExecutions(body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int32  `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	if err := required("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	if in.StatusFilter != "" && !slices.Contains(executionStatuses, in.StatusFilter) {
		return nil, apiErr("ValidationException", "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			in.StatusFilter, strings.Join(executionStatuses, ", "))
	}
	all, err := s.ListExecutions(in.StateMachineArn, in.StatusFilter)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(len(all), in.MaxResults, in.NextToken, "executions|"+in.StateMachineArn+"|"+in.StatusFilter)
	if err != nil {
		return nil, err
	}
	items := []any{}
	for _, x := range all[page[0]:page[1]] {
		item := map[string]any{
			"executionArn": x.ARN, "stateMachineArn": x.StateMachineARN, "name": x.Name,
			"status": x.Status, "startDate": epochSeconds(x.StartDate),
		}
		if !x.StopDate.IsZero() {
			item["stopDate"] = epochSeconds(x.StopDate)
		}
		items = append(items, item)
	}
	return withToken(map[string]any{"executions": items}, next), nil
}

func (s *Service) apiGetExecutionHistory(body []byte) (any, error) {
	var in struct {
		ExecutionArn         string `json:"executionArn"`
		MaxResults           int32  `json:"maxResults"`
		ReverseOrder         bool   `json:"reverseOrder"`
		NextToken            string `json:"nextToken"`
		IncludeExecutionData *bool  `json:"includeExecutionData"`
	}
	if err := decodeRequest(body, &in); err != nil {
		return nil, err
	}
	events, err := s.History(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	if in.ReverseOrder {
		slices.Reverse(events)
	}
	// NOTE: the token names the id of the last event returned, not an
	// offset: a running execution's history grows between pages, at the
	// front in reverseOrder, and the next page must go on from where the
	// previous one stopped.
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("history|%s|%t", in.ExecutionArn, in.ReverseOrder)
	start := 0
	if in.NextToken != "" {
		id, err := decodeToken(in.NextToken, key)
		i := slices.IndexFunc(events, func(e Event) bool { return e.ID == int64(id) })
		if err != nil || i < 0 {
			return nil, apiErr("InvalidToken", "Invalid Token: '%s'", in.NextToken)
		}
		start = i + 1
	}
	end := min(start+size, len(events))
	next := ""
	if end < len(events) {
		next = encodeToken(int(events[end-1].ID), key)
	}
	out := make([]Event, 0, end-start)
	for _, e := range events[start:end] {
		// NOTE: includeExecutionData defaults to true (API reference,
		// GetExecutionHistory).
		if in.IncludeExecutionData != nil && !*in.IncludeExecutionData {
			e = e.withoutData()
		}
		out = append(out, e)
	}
	return withToken(map[string]any{"events": out}, next), nil
}

// paginate returns the [start, end) of the page a request asks for and the
// token of the next page ("" on the last page).
// NOTE: maxResults 0 means the default page size, 100; at most 1000
// (API reference, ListExecutions and GetExecutionHistory). A token is valid
// only for the request that produced it (InvalidToken otherwise).
func paginate(n int, maxResults int32, token, key string) ([2]int, string, error) {
	size, err := pageSize(maxResults)
	if err != nil {
		return [2]int{}, "", err
	}
	start := 0
	if token != "" {
		var err error
		if start, err = decodeToken(token, key); err != nil || start > n {
			return [2]int{}, "", apiErr("InvalidToken", "Invalid Token: '%s'", token)
		}
	}
	end := min(start+size, n)
	next := ""
	if end < n {
		next = encodeToken(end, key)
	}
	return [2]int{start, end}, next, nil
}

// pageSize validates maxResults and returns the page size.
func pageSize(maxResults int32) (int, error) {
	if maxResults < 0 || maxResults > 1000 {
		return 0, apiErr("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000", maxResults)
	}
	if maxResults == 0 {
		return 100, nil
	}
	return int(maxResults), nil
}

func tokenDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// encodeToken encodes a position (an offset, or an event id) for the
// request key.
func encodeToken(pos int, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(pos) + "." + tokenDigest(key)))
}

func decodeToken(token, key string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, err
	}
	off, digest, ok := strings.Cut(string(b), ".")
	if !ok || digest != tokenDigest(key) {
		return 0, errors.New("token does not belong to this request")
	}
	return strconv.Atoi(off)
}

func withToken(m map[string]any, next string) map[string]any {
	if next != "" {
		m["nextToken"] = next
	}
	return m
}
