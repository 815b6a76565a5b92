package statemachine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// Invoker invokes Lambda functions synchronously (RequestResponse), as the
// lambda:invoke integration does.
type Invoker interface {
	// Invoke calls the function that functionName names (a name, a full or
	// partial ARN, as in the integration's FunctionName parameter) with
	// payload and returns the response payload. A failure of the function
	// itself is a *FunctionError; a failure of the invoke call is a
	// *ServiceError or any other error (an unreachable endpoint).
	Invoke(ctx context.Context, functionName string, payload []byte) ([]byte, error)
}

// FunctionError is a function's own failure (Lambda's FunctionError): the
// task fails with Type as its error name.
type FunctionError struct {
	// Type is the errorType the runtime reported; empty when there is none
	// (a crash, a timeout), which Step Functions names Lambda.Unknown.
	Type string
	// Message is the errorMessage.
	Message string
	// Payload is the error document the runtime returned, which Step
	// Functions reports as the error's cause.
	Payload []byte
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// ServiceError is a failure of the Lambda Invoke API itself (function not
// found, throttled, service error). Step Functions names it "Lambda." +
// Code, e.g. Lambda.ResourceNotFoundException.
type ServiceError struct {
	Code       string
	Message    string
	StatusCode int
	RequestID  string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("Lambda %s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
}

// taskError converts an Invoker error into the error the Task state fails
// with.
// NOTE: with lambda:invoke, a function error's name is the function's
// errorType and its cause the error payload the function returned;
// "Unhandled errors in Lambda are reported as Lambda.Unknown" (developer
// guide, Error names). Invoke API failures are named Lambda.<Exception>
// with a cause like "... (Service: AWSLambda; Status Code: 404; Error Code:
// ResourceNotFoundException; Request ID: ...; Proxy: null)", as the AWS
// histories show; a client-side failure is Lambda.SdkClientException.
func taskError(err error) *stateError {
	var fe *FunctionError
	var se *ServiceError
	switch {
	case errors.As(err, &fe):
		name := fe.Type
		if name == "" {
			name = errLambdaUnknown
		}
		cause := string(fe.Payload)
		if cause == "" {
			cause = encodeJSON(messages.InvokeResponse_Error{Message: fe.Message, Type: fe.Type})
		}
		return &stateError{Name: name, Cause: cause}
	case errors.As(err, &se):
		return &stateError{
			Name: errLambdaServicePrefix + se.Code,
			Cause: fmt.Sprintf("%s (Service: AWSLambda; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)",
				se.Message, se.StatusCode, se.Code, se.RequestID),
		}
	}
	return &stateError{Name: errLambdaSdkClient, Cause: "Unable to execute HTTP request: " + err.Error()}
}

// FunctionName extracts the function name and qualifier from a
// FunctionName parameter: "name", "name:qualifier",
// "123456789012:function:name[:qualifier]" or
// "arn:aws:lambda:region:123456789012:function:name[:qualifier]".
func FunctionName(s string) (name, qualifier string, err error) {
	parts := strings.Split(s, ":")
	switch {
	case strings.HasPrefix(s, "arn:"):
		if len(parts) < 7 || len(parts) > 8 || parts[2] != "lambda" || parts[5] != "function" {
			return "", "", fmt.Errorf("%q is not a Lambda function ARN", s)
		}
		parts = parts[6:]
	case len(parts) >= 3 && partialAccountRE.MatchString(parts[0]) && parts[1] == "function":
		if len(parts) > 4 {
			return "", "", fmt.Errorf("%q is not a Lambda function name", s)
		}
		parts = parts[2:]
	case len(parts) > 2:
		return "", "", fmt.Errorf("%q is not a Lambda function name", s)
	}
	if !functionNameRE.MatchString(parts[0]) {
		return "", "", fmt.Errorf("%q is not a Lambda function name", s)
	}
	if len(parts) == 2 {
		qualifier = parts[1]
	}
	return parts[0], qualifier, nil
}

var (
	partialAccountRE = regexp.MustCompile(`^\d{12}$`)
	functionNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// LambdaARN returns the ARN of function name in region and account, the
// value the lab gives a ${...Arn} definition substitution.
func LambdaARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, name)
}

// Handler is a Lambda function's handler: aws-lambda-go's lambda.Handler,
// which internal/functions builds for every function.
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Invoke implements Handler.
func (f HandlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// InProcess invokes handlers in this process, as the Go runtime would run
// them: a returned error becomes the function error aws-lambda-go reports.
type InProcess struct {
	functions map[string]InProcessFunction
	region    string
	account   string
}

// InProcessFunction is a function InProcess runs: its handler and its
// timeout (the template's Timeout; 0: none).
type InProcessFunction struct {
	Handler Handler
	Timeout time.Duration
}

// NewInProcess returns an Invoker calling functions by name.
func NewInProcess(functions map[string]InProcessFunction, region, account string) *InProcess {
	m := make(map[string]InProcessFunction, len(functions))
	for k, v := range functions {
		m[k] = v
	}
	return &InProcess{functions: m, region: region, account: account}
}

// Timeout returns the timeout a function runs with (by name), and whether
// the invoker has it.
func (p *InProcess) Timeout(name string) (time.Duration, bool) {
	fn, ok := p.functions[name]
	return fn.Timeout, ok
}

// Invoke implements Invoker. The handler's context carries the Lambda
// context and the function's deadline; Invoke stops waiting at the
// deadline even when the handler ignores its context, and reports the
// timeout as Lambda does.
// NOTE: Lambda stops a function at its timeout and the invocation fails
// with a payload {"errorMessage": "... Task timed out after N.00 seconds"}
// and no errorType, which Step Functions names Lambda.Unknown (developer
// guide, Error names; AWS-FACTS.md). A goroutine cannot be killed: a
// handler that ignores its context runs on in the background and its
// result is dropped, as a frozen sandbox's would be.
func (p *InProcess) Invoke(ctx context.Context, functionName string, payload []byte) ([]byte, error) {
	name, qualifier, err := FunctionName(functionName)
	if err != nil {
		return nil, &ServiceError{Code: "InvalidParameterValueException", Message: err.Error(), StatusCode: 400, RequestID: uuid.New()}
	}
	fn, ok := p.functions[name]
	if !ok || (qualifier != "" && qualifier != "$LATEST") {
		return nil, &ServiceError{
			Code: "ResourceNotFoundException", StatusCode: 404, RequestID: uuid.New(),
			Message: "Function not found: " + LambdaARN(p.region, p.account, name) + qualifierSuffix(qualifier),
		}
	}
	reqID := uuid.New()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       reqID,
		InvokedFunctionArn: LambdaARN(p.region, p.account, name),
	})
	callerGone := ctx.Done()
	var timeout <-chan time.Time
	if fn.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fn.Timeout)
		defer cancel()
		t := time.NewTimer(fn.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runHandler(ctx, fn.Handler, payload)
		done <- result{out, err}
	}()
	timedOut := func() error {
		msg := fmt.Sprintf("%s Task timed out after %.2f seconds", reqID, fn.Timeout.Seconds())
		b, _ := json.Marshal(map[string]string{"errorMessage": msg})
		return &FunctionError{Message: msg, Payload: b}
	}
	select {
	case r := <-done:
		if r.err != nil && fn.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The handler gave up at its deadline: Lambda's timeout.
			return nil, timedOut()
		}
		return r.out, r.err
	case <-timeout:
		return nil, timedOut()
	case <-callerGone:
		// The caller gave up (the lab is closing).
		return nil, fmt.Errorf("invoke %s: %w", name, context.Cause(ctx))
	}
}

// runHandler runs a handler, converting its error or panic as the Go
// runtime does.
func runHandler(ctx context.Context, h Handler, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			// NOTE: aws-lambda-go reports a panic as an error named after
			// the panic value's type (lambda/errors.go lambdaPanicResponse).
			out, err = nil, functionError(&messages.InvokeResponse_Error{Message: fmt.Sprint(v), Type: errorTypeName(v)})
		}
	}()
	out, err = h.Invoke(ctx, payload)
	if err != nil {
		return nil, functionError(lambdaErrorResponse(err))
	}
	return out, nil
}

func qualifierSuffix(q string) string {
	if q == "" {
		return ""
	}
	return ":" + q
}

// lambdaErrorResponse converts a handler's error as aws-lambda-go does: a
// messages.InvokeResponse_Error value is reported verbatim, any other error
// is named after its Go type (not unwrapped).
// NOTE: aws-lambda-go v1.55.1 lambda/errors.go, lambdaErrorResponse.
func lambdaErrorResponse(err error) *messages.InvokeResponse_Error {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return &ive
	}
	return &messages.InvokeResponse_Error{Message: err.Error(), Type: errorTypeName(err)}
}

func errorTypeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

func functionError(e *messages.InvokeResponse_Error) *FunctionError {
	b, _ := json.Marshal(e)
	return &FunctionError{Type: e.Type, Message: e.Message, Payload: b}
}

// HTTPInvoker invokes functions through the Lambda Invoke API over HTTP:
// `sam local start-lambda`, or aws-lambda-rie (one per function).
type HTTPInvoker struct {
	url    func(name string) (string, bool)
	client *http.Client
}

// NewHTTPInvoker invokes every function at endpoint (e.g.
// http://127.0.0.1:3001 for `sam local start-lambda`), with
// POST /2015-03-31/functions/<name>/invocations.
func NewHTTPInvoker(endpoint string, client *http.Client) *HTTPInvoker {
	base := strings.TrimRight(endpoint, "/")
	return &HTTPInvoker{client: client, url: func(name string) (string, bool) {
		return base + "/2015-03-31/functions/" + url.PathEscape(name) + "/invocations", true
	}}
}

// NewRIEInvoker invokes each function at its own aws-lambda-rie endpoint
// (function name → e.g. http://127.0.0.1:9001).
// NOTE: aws-lambda-rie serves only /2015-03-31/functions/function/invocations
// (internal/lambda/rie/http.go at the pinned version), whatever the name.
func NewRIEInvoker(endpoints map[string]string, client *http.Client) *HTTPInvoker {
	m := make(map[string]string, len(endpoints))
	for k, v := range endpoints {
		m[k] = strings.TrimRight(v, "/") + "/2015-03-31/functions/function/invocations"
	}
	return &HTTPInvoker{client: client, url: func(name string) (string, bool) {
		u, ok := m[name]
		return u, ok
	}}
}

// Invoke implements Invoker.
// NOTE: aws-lambda-rie answers a function error with HTTP 200 and a body
// {"errorType","errorMessage"} and no X-Amz-Function-Error header
// (AWS-FACTS.md), so a body of that shape is a function error too.
func (h *HTTPInvoker) Invoke(ctx context.Context, functionName string, payload []byte) ([]byte, error) {
	name, qualifier, err := FunctionName(functionName)
	if err != nil {
		return nil, &ServiceError{Code: "InvalidParameterValueException", Message: err.Error(), StatusCode: 400}
	}
	u, ok := h.url(name)
	if !ok || (qualifier != "" && qualifier != "$LATEST") {
		return nil, &ServiceError{Code: "ResourceNotFoundException", Message: "Function not found: " + functionName, StatusCode: 404}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	client := h.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 7<<20))
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read response: %w", name, err)
	}
	reqID := resp.Header.Get("X-Amzn-Requestid")
	if resp.StatusCode != http.StatusOK {
		return nil, serviceError(resp, body, reqID)
	}
	var e struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage string  `json:"errorMessage"`
	}
	trimmed := bytes.TrimSpace(body)
	isErrorDoc := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &e) == nil && e.ErrorType != nil
	if resp.Header.Get("X-Amz-Function-Error") != "" || isErrorDoc {
		fe := &FunctionError{Message: e.ErrorMessage, Payload: trimmed}
		if e.ErrorType != nil {
			fe.Type = *e.ErrorType
		}
		return nil, fe
	}
	return body, nil
}

func serviceError(resp *http.Response, body []byte, reqID string) *ServiceError {
	se := &ServiceError{StatusCode: resp.StatusCode, RequestID: reqID, Message: strings.TrimSpace(string(body))}
	var doc struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
		Lower   string `json:"message"`
	}
	if json.Unmarshal(body, &doc) == nil {
		if doc.Message != "" {
			se.Message = doc.Message
		} else if doc.Lower != "" {
			se.Message = doc.Lower
		}
	}
	code, _, _ := strings.Cut(resp.Header.Get("X-Amzn-Errortype"), ":")
	switch {
	case code != "":
	case resp.StatusCode == http.StatusNotFound:
		code = "ResourceNotFoundException"
	case resp.StatusCode == http.StatusTooManyRequests:
		code = "TooManyRequestsException"
	case resp.StatusCode >= 500:
		code = "ServiceException"
	default:
		code = "AWSLambdaException"
	}
	se.Code = code
	return se
}
