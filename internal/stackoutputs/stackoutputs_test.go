package stackoutputs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stackoutputs"
)

// server answers DescribeStacks (awsQuery) with the fixture for the stack
// relayshift-prod, and with CloudFormation's ValidationError otherwise.
func server(t *testing.T) *cloudformation.Client {
	t.Helper()
	body, err := os.ReadFile("testdata/describe-stacks.xml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "DescribeStacks" || r.Form.Get("Version") != "2010-05-15" {
			http.Error(w, fmt.Sprintf("unexpected request %v", r.Form), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		if name := r.Form.Get("StackName"); name != "relayshift-prod" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error><RequestId>0f1e2d3c-0000-4000-8000-000000000000</RequestId></ErrorResponse>`, url.QueryEscape(name))
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return cloudformation.NewFromConfig(emulators.AWSConfig(srv.URL))
}

func TestRead(t *testing.T) {
	api := server(t)
	got, err := stackoutputs.Read(context.Background(), api, "relayshift-prod")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		stackoutputs.StateMachineArn:     "arn:aws:states:eu-west-1:123456789012:stateMachine:relayshift-deploy",
		stackoutputs.ListenerArn:         "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2",
		stackoutputs.BlueTargetGroupArn:  "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067",
		stackoutputs.GreenTargetGroupArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-green/2453ed029918f21f",
		stackoutputs.Service:             "relay",
		"AlarmPrefix":                    "relay-", // an output the CLI does not read comes back too
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestReadMissingStack(t *testing.T) {
	_, err := stackoutputs.Read(context.Background(), server(t), "nope")
	if deploy.CodeOf(err) != deploy.InvalidInput {
		t.Fatalf("err = %v, want InvalidInput", err)
	}
}
