package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/relayshift/relayshift/internal/functions"
)

// Invoker invokes a Lambda function by name or ARN.
type Invoker interface {
	Invoke(ctx context.Context, functionName string, payload []byte) ([]byte, error)
}

// FunctionError is a function's own failure: its Lambda errorType and
// errorMessage.
type FunctionError struct {
	Type, Message string
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// functionName returns the name in a function name or ARN
// ("arn:aws:lambda:region:account:function:name[:qualifier]").
func functionName(s string) string {
	if _, rest, ok := strings.Cut(s, ":function:"); ok {
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	return s
}

// inProcess runs the functions' handlers in this process, as the Lambda
// Go runtime would: a deadline from the function's timeout, a Lambda
// context, and the error converted as aws-lambda-go does.
type inProcess struct {
	handlers map[string]functions.Handler
	timeouts map[string]time.Duration
}

func (p *inProcess) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	name := functionName(fn)
	h, ok := p.handlers[name]
	if !ok {
		return nil, fmt.Errorf("ResourceNotFoundException: Function not found: %s", fn)
	}
	if d := p.timeouts[name]; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: newID(), InvokedFunctionArn: fn})
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		// NOTE: aws-lambda-go reports a messages.InvokeResponse_Error value
		// verbatim, and names any other error after its Go type
		// (lambda/errors.go).
		var ie messages.InvokeResponse_Error
		if errors.As(err, &ie) {
			return nil, &FunctionError{Type: ie.Type, Message: ie.Message}
		}
		return nil, &FunctionError{Type: fmt.Sprintf("%T", err), Message: err.Error()}
	}
	return out, nil
}

// endpointInvoker calls a Lambda invoke endpoint (`sam local
// start-lambda`, or aws-lambda-rie): POST
// /2015-03-31/functions/<name>/invocations.
type endpointInvoker struct {
	base   string
	client *http.Client
}

func (e *endpointInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	u := strings.TrimSuffix(e.base, "/") + "/2015-03-31/functions/" + functionName(fn) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", fn, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: HTTP %d: %s", fn, resp.StatusCode, body)
	}
	// NOTE: aws-lambda-rie does not set X-Amz-Function-Error; a function
	// error is recognised by its body (AWS-FACTS.md).
	var fe struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage string  `json:"errorMessage"`
	}
	if resp.Header.Get("X-Amz-Function-Error") != "" || (bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && json.Unmarshal(body, &fe) == nil && fe.ErrorType != nil) {
		t := ""
		if fe.ErrorType != nil {
			t = *fe.ErrorType
		}
		return nil, &FunctionError{Type: t, Message: fe.ErrorMessage}
	}
	return body, nil
}
