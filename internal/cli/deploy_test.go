package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/deploy"
)

// deployArgs deploys version with a fixed commit, following it.
func deployArgs(version string, extra ...string) []string {
	return append([]string{"deploy", "--version", version, "--commit", "9f1c2ab", "--strategy", "Canary10Percent5Minutes",
		"--post-promotion-bake", "1m", "--wait", "--poll-interval", "20s"}, extra...)
}

// TestExitCodeContract is the contract CI relies on: 0 promoted, 2 rolled
// back, 3 failed otherwise, 4 refused, 1 usage or configuration error.
func TestExitCodeContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		other  bool // another deployment is running first
		want   int
		result string
	}{
		{name: "promoted", args: deployArgs(vPromoted), want: cli.ExitOK, result: "promoted"},
		{name: "rolled back by the alarm path", args: deployArgs(vAlarm), want: cli.ExitRolledBack, result: "rolled_back"},
		{name: "rolled back by the verdict", args: deployArgs(vVerdict), want: cli.ExitRolledBack, result: "rolled_back"},
		{name: "rolled back after a failed task", args: deployArgs(vUnhealthy), want: cli.ExitRolledBack, result: "rolled_back"},
		{name: "refused by Preflight", args: deployArgs(vRefused), want: cli.ExitRefused, result: "refused"},
		{name: "refused when a Shift lost the lock", args: deployArgs(vLostLock), want: cli.ExitRefused, result: "refused"},
		{name: "refused before starting", args: deployArgs(vPromoted), other: true, want: cli.ExitRefused, result: "refused"},
		{name: "failed in Preflight", args: deployArgs(vFailed), want: cli.ExitFailed, result: "failed"},
		{name: "timed out", args: deployArgs(vTimedOut), want: cli.ExitFailed, result: "failed"},
		{name: "aborted by hand", args: deployArgs(vAbortedByHand), want: cli.ExitFailed, result: "failed"},
		{name: "stopped waiting", args: deployArgs(vRunning, "--timeout", "10m"), want: cli.ExitFailed, result: "running"},
		{name: "started without waiting", args: []string{"deploy", "--version", vRunning}, want: cli.ExitOK, result: "running"},
		{name: "missing version", args: []string{"deploy", "--wait"}, want: cli.ExitUsage},
		{name: "bad version", args: []string{"deploy", "--version", "v 2"}, want: cli.ExitUsage},
		{name: "unknown strategy", args: []string{"deploy", "--version", "v2", "--strategy", "Canary99Percent"}, want: cli.ExitUsage},
		{name: "custom strategy not ending at 100", args: []string{"deploy", "--version", "v2", "--strategy", `{"steps":[10,50],"bakeSeconds":60}`}, want: cli.ExitUsage},
		{name: "unknown flag", args: []string{"deploy", "--version", "v2", "--colour", "green"}, want: cli.ExitUsage},
		{name: "bad output", args: []string{"deploy", "--version", "v2", "--output", "yaml"}, want: cli.ExitUsage},
		{name: "no state machine", args: []string{"deploy", "--version", "v2"}, env: map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": ""}, want: cli.ExitUsage},
		{name: "malformed state machine ARN", args: []string{"deploy", "--version", "v2", "--state-machine-arn", "relayshift-deploy"}, want: cli.ExitUsage},
		{name: "bad poll interval in the environment", args: []string{"deploy", "--version", "v2"}, env: map[string]string{"RELAYSHIFT_POLL_INTERVAL": "often"}, want: cli.ExitUsage},
		{name: "unknown command", args: []string{"deploi"}, want: cli.ExitUsage},
		{name: "help", args: []string{"deploy", "--help"}, want: cli.ExitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for k, v := range tc.env {
				h.env[k] = v
			}
			if tc.other {
				h.sfn.Start(h.sm, "relay-v2.3.0-1a2b3c4", `{"version":"v2.3.0","commit":"1a2b3c4"}`)
			}
			args := tc.args
			if tc.result != "" {
				args = append(args, "--output", "json")
			}
			code, stdout, stderr := h.run(args...)
			if code != tc.want {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.want, stdout, stderr)
			}
			if tc.result != "" {
				var out struct {
					Result   string `json:"result"`
					ExitCode int    `json:"exitCode"`
					Reason   string `json:"reason"`
				}
				if err := json.Unmarshal([]byte(stdout), &out); err != nil {
					t.Fatalf("stdout is not the JSON outcome: %v\n%s", err, stdout)
				}
				if out.Result != tc.result || out.ExitCode != tc.want {
					t.Errorf("outcome %+v, want result %s exit code %d", out, tc.result, tc.want)
				}
				if tc.want != cli.ExitOK && out.Reason == "" {
					t.Errorf("no reason given for %s", out.Result)
				}
			}
			if tc.want == cli.ExitUsage && h.sfn.Count("StartExecution") != 0 {
				t.Errorf("a usage error started an execution")
			}
			if tc.other && h.sfn.Count("StartExecution") != 0 {
				t.Errorf("refused before starting, but StartExecution was called")
			}
		})
	}
}

// TestDeployTwiceStartsOneExecution: re-running the same CI job attaches
// to the execution the first run started, whether it still runs or has
// ended, and reports the same outcome.
func TestDeployTwiceStartsOneExecution(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    int
	}{
		{vPromoted, cli.ExitOK},
		{vAlarm, cli.ExitRolledBack},
		{vRefused, cli.ExitRefused},
	} {
		t.Run(tc.version, func(t *testing.T) {
			h := newHarness(t)
			// The first run starts it and does not wait (a CI job cancelled
			// mid-way); the second attaches while it runs and follows it
			// to the end; the third comes after the end.
			if code, out, errOut := h.run("deploy", "--version", tc.version, "--commit", "9f1c2ab", "--strategy", "Canary10Percent5Minutes", "--post-promotion-bake", "1m"); code != cli.ExitOK {
				t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
			}
			code, out, _ := h.run(deployArgs(tc.version)...)
			if code != tc.want {
				t.Fatalf("second run: exit %d, want %d\n%s", code, tc.want, out)
			}
			if !strings.Contains(out, "already exists (RUNNING") {
				t.Errorf("second run does not say it attached:\n%s", out)
			}
			code, out, _ = h.run(deployArgs(tc.version)...)
			if code != tc.want {
				t.Fatalf("third run: exit %d, want %d\n%s", code, tc.want, out)
			}
			if !strings.Contains(out, "following it instead of starting another") {
				t.Errorf("third run does not say it attached:\n%s", out)
			}
			execs := h.sfn.Executions()
			if len(execs) != 1 {
				t.Fatalf("%d executions, want 1: %+v", len(execs), execs)
			}
			if execs[0].Name != "relay-"+tc.version+"-9f1c2ab" {
				t.Errorf("execution name %q", execs[0].Name)
			}
			if n := h.sfn.Count("StartExecution"); n != 1 {
				t.Errorf("StartExecution called %d times, want 1", n)
			}
		})
	}
}

// TestDeployAttemptStartsAnotherExecution: --attempt 2 deploys the same
// version and commit again after a rollback, under a new name.
func TestDeployAttemptStartsAnotherExecution(t *testing.T) {
	h := newHarness(t)
	if code, out, _ := h.run(deployArgs(vAlarm)...); code != cli.ExitRolledBack {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out, _ := h.run(deployArgs(vAlarm, "--attempt", "2")...)
	if code != cli.ExitRolledBack || !strings.Contains(out, "started relay-v2.5.0-9f1c2ab-a2 ") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := len(h.sfn.Executions()); n != 2 {
		t.Fatalf("%d executions, want 2", n)
	}
}

// TestDeployExecutionInput: the execution input is the deploy.Request JSON
// the functions decode strictly.
func TestDeployExecutionInput(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.run("deploy", "--version", "v3.3.0", "--commit", "0123456789abcdef0123", "--image",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:v3.3.0", "--strategy", `{"steps":[5,50,100],"bakeSeconds":120}`,
		"--post-promotion-bake", "10m", "--dry-run")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	x := h.sfn.Executions()[0]
	want := `{"version":"v3.3.0","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:v3.3.0","commit":"0123456789abcdef0123","strategy":{"steps":[5,50,100],"bakeSeconds":120},"postPromotionBakeSeconds":600,"dryRun":true}`
	if x.Input != want {
		t.Errorf("input\n got %s\nwant %s", x.Input, want)
	}
	if x.Name != "relay-v3.3.0-0123456789ab" {
		t.Errorf("name %q", x.Name)
	}
}

// TestDeployProgressGolden shows what a CI log (plain, with GitHub
// Actions annotations) and a terminal (status line, colours) look like for
// each kind of ending.
func TestDeployProgressGolden(t *testing.T) {
	for _, tc := range []struct{ name, version string }{
		{"promoted", vPromoted},
		{"rollback-alarm", vAlarm},
		{"rollback-verdict", vVerdict},
		{"rollback-unhealthy", vUnhealthy},
		{"refused", vRefused},
		{"refused-lost-lock", vLostLock},
		{"failed", vFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.env["CI"], h.env["GITHUB_ACTIONS"] = "true", "true"
			_, out, _ := h.run(deployArgs(tc.version)...)
			golden(t, "progress/"+tc.name+".ci-log.golden", out)
			calls := map[string]int{}
			for _, c := range h.sfn.Calls() {
				calls[c.Operation]++
			}
			t.Logf("Step Functions calls for %s at a 20s poll: %v", tc.name, calls)

			h = newHarness(t)
			h.terminal = true
			h.env["TERM"] = "xterm-256color"
			_, out, _ = h.run(deployArgs(tc.version)...)
			golden(t, "progress/"+tc.name+".tty.golden", visible(out))
			golden(t, "progress/"+tc.name+".terminal.golden", screen(out))
		})
	}
}

// TestDeployReportsTheTrafficTheRollbackLeft: after the state machine's
// Roll back state, --output json reports the weights the rollback function
// read back (not the last shift's), and the text report says what it did
// to the traffic.
func TestDeployReportsTheTrafficTheRollbackLeft(t *testing.T) {
	for _, tc := range []struct {
		version string
		weights deploy.Weights
		traffic string
	}{
		{vVerdict, deploy.Weights{Blue: 100}, "traffic:  restored to blue=100,green=0 (was blue=90,green=10)"},
		{vUnhealthy, deploy.Weights{Blue: 100}, "traffic:  already on blue=100,green=0"},
		{vLostLock, deploy.Weights{Blue: 100}, ""},
		{vPromoted, deploy.Weights{Green: 100}, ""},
	} {
		t.Run(tc.version, func(t *testing.T) {
			h := newHarness(t)
			_, stdout, _ := h.run(deployArgs(tc.version, "--output", "json")...)
			var out struct{ Weights *deploy.Weights }
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if out.Weights == nil || *out.Weights != tc.weights {
				t.Errorf("weights %v, want %s\n%s", out.Weights, tc.weights, stdout)
			}
			h = newHarness(t)
			_, text, _ := h.run(deployArgs(tc.version)...)
			if tc.traffic != "" && !strings.Contains(text, tc.traffic) {
				t.Errorf("the report does not say %q:\n%s", tc.traffic, text)
			}
		})
	}
}

// TestDeployProgressAuto: without --progress, a terminal gets the status
// line and a CI log does not.
func TestDeployProgressAuto(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		env      map[string]string
		status   bool
	}{
		{"terminal", true, map[string]string{"TERM": "xterm"}, true},
		{"pipe", false, nil, false},
		{"terminal in CI", true, map[string]string{"TERM": "xterm", "CI": "true"}, false},
		{"dumb terminal", true, map[string]string{"TERM": "dumb"}, false},
		{"forced plain", true, map[string]string{"TERM": "xterm", "RELAYSHIFT_PROGRESS": "plain"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.terminal = tc.terminal
			for k, v := range tc.env {
				h.env[k] = v
			}
			args := deployArgs(vPromoted)
			for i, a := range args {
				if a == "--strategy" {
					args = append(args[:i:i], args[i+2:]...)
					break
				}
			}
			_, out, _ := h.run(args...)
			if got := strings.Contains(out, "\r\x1b[2K"); got != tc.status {
				t.Errorf("status line drawn: %v, want %v\n%q", got, tc.status, out)
			}
		})
	}
}

// TestDeployRidesOutFailedPolls: a few failed polls (throttling, after
// the SDK's retries) do not fail the job; five in a row do.
func TestDeployRidesOutFailedPolls(t *testing.T) {
	h := newHarness(t)
	if code, out, _ := h.run(slicesDelete(deployArgs(vPromoted), "--wait")...); code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	h.sfn.FailNext("GetExecutionHistory", 4, "ThrottlingException")
	code, out, errOut := h.run(deployArgs(vPromoted)...)
	if code != cli.ExitOK || strings.Count(errOut, "ThrottlingException") != 4 || !strings.Contains(errOut, "(retrying)") {
		t.Fatalf("4 failed polls: exit %d\n%s\nstderr:\n%s", code, out, errOut)
	}

	h = newHarness(t)
	if code, out, _ := h.run(slicesDelete(deployArgs(vVerdict), "--wait")...); code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	h.sfn.FailNext("GetExecutionHistory", 5, "ServiceUnavailable")
	code, out, _ = h.run(deployArgs(vVerdict, "--output", "json")...)
	if code != cli.ExitFailed || !strings.Contains(out, "5 polls in a row failed") {
		t.Fatalf("5 failed polls: exit %d\n%s", code, out)
	}
}

// TestDeployInterrupted: Ctrl-C stops following, not the deployment.
func TestDeployInterrupted(t *testing.T) {
	h := newHarness(t)
	h.interruptAfter = 3
	code, out, _ := h.run(deployArgs(vPromoted)...)
	if code != cli.ExitFailed || !strings.Contains(out, "STILL RUNNING") || !strings.Contains(out, "stopped waiting (interrupted); the deployment goes on") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if x := h.sfn.Executions()[0]; x.Status != "RUNNING" {
		t.Errorf("the execution is %s", x.Status)
	}
}

// TestHelp: every command documents its flags, environment and exit codes.
func TestHelp(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"deploy", "status", "rollback", "history"} {
		code, out, _ := h.run(cmd, "--help")
		if code != cli.ExitOK {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		for _, want := range []string{"Usage:", "Flags:", "-stack", "RELAYSHIFT_STATE_MACHINE_ARN", "RELAYSHIFT_STACK", "Exit codes:", "AWS_REGION"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s --help lacks %q", cmd, want)
			}
		}
		if _, out2, _ := h.run("help", cmd); out2 != out {
			t.Errorf("relayshift help %s differs from %s --help", cmd, cmd)
		}
	}
	code, out, _ := h.run("--help")
	for _, c := range []string{"deploy", "status", "rollback", "history"} {
		if code != cli.ExitOK || !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("relayshift --help does not list %s:\n%s", c, out)
		}
	}
}
