package awserr

import (
	"errors"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/relayshift/relayshift/internal/deploy"
)

func TestClassify(t *testing.T) {
	service := func(code string) deploy.Code {
		if code == "ListenerNotFound" {
			return deploy.ListenerNotFound
		}
		return ""
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		err  error
		want deploy.Code
	}{
		{api("Throttling"), deploy.Throttled},
		{api("ThrottlingException"), deploy.Throttled},
		{api("TooManyRequestsException"), deploy.Throttled},
		{api("AccessDeniedException"), deploy.AccessDenied},
		{api("ListenerNotFound"), deploy.ListenerNotFound},
		{api("SomethingElse"), deploy.InternalError},
		{errors.New("dial tcp: connection refused"), deploy.InternalError},
	} {
		got := Classify("op", tc.err, service)
		if deploy.CodeOf(got) != tc.want || !errors.Is(got, tc.err) {
			t.Errorf("%v: got %v (%s), want %s wrapping the cause", tc.err, got, deploy.CodeOf(got), tc.want)
		}
	}
	if Classify("op", nil, service) != nil {
		t.Error("nil classified")
	}
}
