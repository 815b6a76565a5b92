package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// HandlerFunc is a function's logic: typed input, typed output, a logger
// already scoped to the invocation.
type HandlerFunc[In, Out any] func(ctx context.Context, log *slog.Logger, in In) (Out, error)

// Edge adapts a HandlerFunc to aws-lambda-go's lambda.Handler interface
// (Invoke). It is the one place where payloads are decoded and errors are
// converted to the names Step Functions sees.
type Edge[In, Out any] struct {
	name string
	log  *slog.Logger
	fn   HandlerFunc[In, Out]
}

// NewEdge returns the edge for the function called name.
func NewEdge[In, Out any](name string, log *slog.Logger, fn HandlerFunc[In, Out]) *Edge[In, Out] {
	return &Edge[In, Out]{name: name, log: log, fn: fn}
}

// Invoke decodes payload strictly into In, runs the handler, and encodes its
// output. A failure is returned as LambdaError(err) so that the Lambda
// errorType is the error's Code.
func (e *Edge[In, Out]) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	log := e.log.With("function", e.name)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	var in In
	if err := DecodeStrict(payload, &in); err != nil {
		err = Errorf(InvalidInput, "%s payload: %w", e.name, err)
		log.Error("rejected payload", "error_name", InvalidInput, "error", err)
		return nil, LambdaError(err)
	}
	out, err := e.fn(ctx, log, in)
	if err != nil {
		log.Error("failed", "error_name", CodeOf(err), "error", err)
		return nil, LambdaError(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		err = fmt.Errorf("%s output: %w", e.name, err)
		log.Error("failed", "error_name", InternalError, "error", err)
		return nil, LambdaError(err)
	}
	return b, nil
}

// LambdaError converts err into the value aws-lambda-go reports verbatim:
// its Type is CodeOf(err). Returning any other error type would make the
// Lambda errorType the Go type name (for a wrapped error, "wrapError").
func LambdaError(err error) error {
	if err == nil {
		return nil
	}
	return messages.InvokeResponse_Error{Type: string(CodeOf(err)), Message: err.Error()}
}

// DecodeStrict decodes exactly one JSON value from data into v, rejecting
// unknown fields and trailing data.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty JSON document")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}
