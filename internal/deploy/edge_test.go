package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

type echoIn struct {
	Name string `json:"name"`
}

func TestEdgeConvertsErrorsToNames(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, tc := range []struct {
		name    string
		payload string
		fail    error
		want    string
	}{
		{"garbled JSON", `{"name":`, nil, "InvalidInput"},
		{"unknown field", `{"name":"a","extra":1}`, nil, "InvalidInput"},
		{"classified and wrapped twice", `{"name":"a"}`, fmt.Errorf("outer: %w", Errorf(DeploymentInProgress, "held")), "DeploymentInProgress"},
		{"classified wrapping an AWS error", `{"name":"a"}`, Errorf(Throttled, "describe: %w", errors.New("Rate exceeded")), "Throttled"},
		{"unclassified", `{"name":"a"}`, fmt.Errorf("boom: %w", io.ErrUnexpectedEOF), "InternalError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEdge("test", log, func(ctx context.Context, _ *slog.Logger, in echoIn) (echoIn, error) {
				return in, tc.fail
			})
			_, err := e.Invoke(context.Background(), []byte(tc.payload))
			// aws-lambda-go reports an InvokeResponse_Error value verbatim;
			// anything else would be named after its Go type.
			ire, ok := err.(messages.InvokeResponse_Error)
			if !ok {
				t.Fatalf("error is %T, want messages.InvokeResponse_Error", err)
			}
			if ire.Type != tc.want {
				t.Fatalf("errorType = %q, want %q (message %q)", ire.Type, tc.want, ire.Message)
			}
		})
	}
	if !strings.Contains(logs.String(), `"error_name":"DeploymentInProgress"`) {
		t.Errorf("failure not logged with its name:\n%s", logs.String())
	}
}

func TestEdgeSuccess(t *testing.T) {
	e := NewEdge("test", slog.New(slog.DiscardHandler), func(ctx context.Context, _ *slog.Logger, in echoIn) (echoIn, error) {
		return echoIn{Name: in.Name + "!"}, nil
	})
	out, err := e.Invoke(context.Background(), []byte(`{"name":"a"}`))
	if err != nil || string(out) != `{"name":"a!"}` {
		t.Fatalf("got %s, %v", out, err)
	}
}

func TestCodes(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
	}
	for _, c := range []Code{TargetsNotReady, Throttled} {
		if !c.Retryable() {
			t.Errorf("%s not retryable", c)
		}
	}
	if InvalidInput.Retryable() {
		t.Error("InvalidInput retryable")
	}
	if CodeOf(nil) != InternalError || LambdaError(nil) != nil {
		t.Error("nil handling")
	}
}
