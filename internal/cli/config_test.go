package cli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relayshift/relayshift/internal/cli"
)

// stackServer answers CloudFormation DescribeStacks (awsQuery) for the
// stack relayshift-prod with the given outputs, counting requests.
func stackServer(t *testing.T, outputs map[string]string) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		if r.Form.Get("Action") != "DescribeStacks" || r.Form.Get("StackName") != "relayshift-prod" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id x does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		var b strings.Builder
		for k, v := range outputs {
			fmt.Fprintf(&b, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", k, v)
		}
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>relayshift-prod</StackName><StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>2026-11-20T09:12:41Z</CreationTime><Outputs>%s</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`, b.String())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// TestConfigurationPrecedence: a flag wins over the environment, which
// wins over the stack's outputs; the stack is read only when a needed
// setting is missing.
func TestConfigurationPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		flags     []string
		noRegion  bool
		want      string // the state machine the execution started on, or the error
		code      int
		stackRead bool
	}{
		{name: "stack", flags: []string{"--stack", "relayshift-prod"}, want: "relayshift-prod-v2-abc1234 on from-stack", stackRead: true},
		{name: "stack from the environment", env: map[string]string{"RELAYSHIFT_STACK": "relayshift-prod"}, want: "relayshift-prod-v2-abc1234 on from-stack", stackRead: true},
		{name: "environment over stack", env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": "from-env", "RELAYSHIFT_SERVICE": "relay"}, flags: []string{"--stack", "relayshift-prod"}, want: "relay-v2-abc1234 on from-env"},
		{name: "flag over environment", env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": "from-env"}, flags: []string{"--state-machine-arn", "from-flag", "--service", "api"}, want: "api-v2-abc1234 on from-flag"},
		{name: "region from the state machine ARN", env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": "from-env"}, noRegion: true, want: "relay-v2-abc1234 on from-env"},
		{name: "stack needs a region", flags: []string{"--stack", "relayshift-prod"}, noRegion: true, code: cli.ExitUsage, want: "needs an AWS region"},
		{name: "missing stack", flags: []string{"--stack", "nope"}, code: cli.ExitUsage, want: "does not exist", stackRead: true},
		{name: "bad service name", env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": "from-env", "RELAYSHIFT_SERVICE": "relay service"}, code: cli.ExitUsage, want: `RELAYSHIFT_SERVICE = "relay service" (environment RELAYSHIFT_SERVICE)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			arns := map[string]string{}
			for _, name := range []string{"from-stack", "from-env", "from-flag"} {
				arns[name] = h.sfn.AddStateMachine(name)
			}
			cfn, reads := stackServer(t, map[string]string{"StateMachineArn": arns["from-stack"], "Service": "relayshift-prod"})
			h.endpoint = route(t, h.sfn.URL, cfn)
			h.noRegion = tc.noRegion
			h.env = map[string]string{}
			for k, v := range tc.env {
				if a, ok := arns[v]; ok {
					v = a
				}
				h.env[k] = v
			}
			flags := append([]string(nil), tc.flags...)
			for i, f := range flags {
				if a, ok := arns[f]; ok {
					flags[i] = a
				}
			}
			code, out, errOut := h.run(append([]string{"deploy", "--version", "v2", "--commit", "abc1234"}, flags...)...)
			if tc.code != 0 {
				if code != tc.code || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
				}
			} else {
				if code != cli.ExitOK {
					t.Fatalf("exit %d\n%s%s", code, out, errOut)
				}
				x := h.sfn.Executions()[0]
				got := x.Name + " on " + x.StateMachineARN[strings.LastIndex(x.StateMachineARN, ":")+1:]
				if got != tc.want {
					t.Errorf("started %s, want %s", got, tc.want)
				}
			}
			if read := reads.Load() > 0; read != tc.stackRead {
				t.Errorf("stack read: %v, want %v", read, tc.stackRead)
			}
		})
	}
}
