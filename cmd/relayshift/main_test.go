package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

// The binary, built once for the tests in this file.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relayshift-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "relayshift")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fastScenarios scripts executions in milliseconds (the binary runs on the
// wall clock): the version says how it ends. It is a shortened path with the
// definition's state names, for the exit codes only; internal/cli's
// scenarios follow infra/statemachine/deploy.asl.json state by state.
func fastScenarios(x *stepfntest.Execution, s *stepfntest.Script) {
	var req deploy.Request
	_ = json.Unmarshal([]byte(x.Input), &req)
	ms := time.Millisecond
	rec := deploy.Record{ID: x.Name, ExecutionARN: x.ARN, Version: req.Version, Stable: deploy.Blue, Candidate: deploy.Green,
		Before: deploy.Weights{Blue: 100}, Plan: deploy.Plan{Strategy: "AllAtOnce", Steps: []deploy.Step{{Percent: 100, BakeSeconds: 1}}}}
	switch req.Version {
	case "refused":
		s.Enter("Task", "Preflight").Fail(20*ms, string(deploy.DeploymentInProgress), "another deployment holds the listener").Uncaught()
		return
	case "failed":
		s.Enter("Task", "Preflight").Fail(20*ms, string(deploy.InternalError), "boom").Uncaught()
		return
	}
	s.Task("Preflight", 20*ms, "preflight", rec)
	s.Task("Shift traffic", 20*ms, "shift", deploy.ShiftOutput{Percent: 100, Weights: deploy.Weights{Green: 100}, Changed: true, BakeSeconds: 1, Last: true, Next: 1})
	switch req.Version {
	case "good":
		s.Wait("Post-promotion bake", 50*ms)
		s.Task("Finalize", 20*ms, "summary", deploy.Summary{Version: req.Version, From: deploy.Blue, To: deploy.Green, Weights: deploy.Weights{Green: 100}})
		s.Succeeded("Promoted")
	case "bad":
		s.Enter("Wait", "Post-promotion bake").Elapse(50*ms).Stop(string(deploy.RolledBack), "alarm relay-green-5xx went into ALARM")
	}
}

type fakeAWS struct {
	srv *stepfntest.Server
	sm  string
}

func startFake(t *testing.T) fakeAWS {
	t.Helper()
	srv := stepfntest.NewServer(t, stepfntest.WallClock())
	srv.Scenario = fastScenarios
	return fakeAWS{srv: srv, sm: srv.AddStateMachine("relayshift-deploy")}
}

// env is the process environment for the binary, pointing at the fake.
func (f fakeAWS) env(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "RELAYSHIFT_STATE_MACHINE_ARN=" + f.sm, "RELAYSHIFT_POLL_INTERVAL=10ms"}
	for k, v := range emulators.Env(f.srv.URL) {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestBinaryExitCodes runs the built binary, as CI does.
func TestBinaryExitCodes(t *testing.T) {
	f := startFake(t)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"deploy", "--version", "good", "--wait"}, 0},
		{[]string{"deploy", "--version", "bad", "--wait"}, 2},
		{[]string{"deploy", "--version", "failed", "--wait"}, 3},
		{[]string{"deploy", "--version", "refused", "--wait"}, 4},
		{[]string{"deploy", "--wait"}, 1},
		{[]string{"deploy", "--version", "bad", "--wait"}, 2}, // re-run: attaches, same outcome
	} {
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = f.env()
		out, err := cmd.CombinedOutput()
		if got := exitCode(t, err); got != tc.want {
			t.Errorf("relayshift %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), got, tc.want, out)
		}
	}
	if n := len(f.srv.Executions()); n != 4 {
		t.Errorf("%d executions, want 4 (the re-run attached)", n)
	}
}

// TestCIDeployScript runs scripts/ci-deploy.sh end to end in a throwaway
// repository, with stand-ins for docker, aws and sam that log their
// arguments, and the real relayshift binary against the fake Step
// Functions: the job's exit code is relayshift's, and sam deploys only
// when the application changed.
func TestCIDeployScript(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "ci-deploy.sh")
	f := startFake(t)

	stubs := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls.log")
	for _, name := range []string{"docker", "sam", "aws"} {
		body := "#!/usr/bin/env bash\necho \"" + name + " $*\" >>\"$STUB_LOG\"\n"
		if name == "docker" {
			body += "if [[ \"$*\" == *--password-stdin* ]]; then cat >/dev/null; fi\n"
		}
		if name == "aws" {
			// describe-images: the tag does not exist yet; get-login-password: a token.
			body += "case \"$1 $2\" in\n  'ecr describe-images') exit 254 ;;\n  'ecr get-login-password') echo token ;;\n  'sts get-caller-identity') echo 123456789012 ;;\nesac\n"
		}
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("template.yaml", "Resources: {}\n")
	write("README.md", "relay\n")
	git("add", ".")
	git("commit", "-qm", "first")

	run := func(version string, env ...string) (int, string, string) {
		t.Helper()
		_ = os.Remove(calls)
		cmd := exec.Command("bash", script)
		cmd.Dir = repo
		cmd.Env = f.env(append([]string{
			"PATH=" + stubs + ":" + os.Getenv("PATH"), "STUB_LOG=" + calls, "AWS_REGION=us-east-1",
			"ECR_REPOSITORY=relay", "RELAYSHIFT=" + binary, "DEPLOY_VERSION=" + version,
		}, env...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		code := exitCode(t, cmd.Run())
		log, _ := os.ReadFile(calls)
		return code, out.String(), string(log)
	}

	// Only the README changed: no sam; the release is promoted.
	write("README.md", "relay, documented\n")
	git("commit", "-qam", "docs")
	head := git("rev-parse", "HEAD")
	code, out, log := run("good")
	if code != 0 {
		t.Fatalf("promoted: exit %d\n%s", code, out)
	}
	image := "123456789012.dkr.ecr.us-east-1.amazonaws.com/relay:" + head
	for _, want := range []string{
		"docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"docker build --file ./Dockerfile --tag " + image,
		"docker push " + image,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("calls lack %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "sam ") {
		t.Errorf("sam ran though the application did not change:\n%s", log)
	}
	if !strings.Contains(out, "PROMOTED") {
		t.Errorf("no PROMOTED in the log:\n%s", out)
	}
	x := f.srv.Executions()[0]
	if !strings.Contains(x.Input, `"image":"`+image+`"`) || !strings.Contains(x.Input, `"commit":"`+head+`"`) {
		t.Errorf("execution input %s", x.Input)
	}

	// The template changed and the release is rolled back: sam ran, and
	// the job fails with relayshift's exit code 2.
	write("template.yaml", "Resources: {Changed: {}}\n")
	git("commit", "-qam", "infra")
	code, out, log = run("bad")
	if code != 2 {
		t.Fatalf("rolled back: exit %d, want 2\n%s", code, out)
	}
	if !strings.Contains(log, "sam build") || !strings.Contains(log, "sam deploy --no-confirm-changeset --no-fail-on-empty-changeset") {
		t.Errorf("sam did not run though template.yaml changed:\n%s", log)
	}
	if !strings.Contains(out, "ROLLED BACK") || !strings.Contains(out, "alarm relay-green-5xx went into ALARM") {
		t.Errorf("the log does not say why:\n%s", out)
	}

	// The phase the GitHub workflow runs to decide on sam, from the
	// previous push (github.event.before).
	for _, tc := range []struct{ base, want string }{
		{head, "changed=true"},                      // template.yaml changed since
		{git("rev-parse", "HEAD"), "changed=false"}, // nothing since
		{strings.Repeat("0", 40), "changed=true"},   // a branch's first push
		{"", "changed=true"},                        // HEAD^ (workflow_dispatch): the template commit
	} {
		cmd := exec.Command("bash", script, "infra-changed")
		cmd.Dir = repo
		outFile := filepath.Join(t.TempDir(), "github_output")
		cmd.Env = append(f.env(), "DEPLOY_BASE="+tc.base, "GITHUB_OUTPUT="+outFile)
		o, err := cmd.CombinedOutput()
		written, _ := os.ReadFile(outFile)
		if exitCode(t, err) != 0 || strings.TrimSpace(string(written)) != tc.want {
			t.Errorf("infra-changed since %q: %q, want %q\n%s", tc.base, written, tc.want, o)
		}
	}
}

// TestWorkflow checks the GitHub workflow with actionlint (installed by
// make tools) and for what the job must do.
func TestWorkflow(t *testing.T) {
	path := filepath.Join("..", "..", ".github", "workflows", "deploy.yml")
	cmd := exec.Command(emulators.Tool(t, "actionlint"), path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wf := string(b)
	for _, want := range []string{
		"branches: [main]",
		"id-token: write",
		"aws-actions/configure-aws-credentials@",
		"role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
		"aws-actions/amazon-ecr-login@",
		"scripts/ci-deploy.sh image",
		"if: steps.infra.outputs.changed == 'true'",
		"scripts/ci-deploy.sh infra",
		"scripts/ci-deploy.sh deploy",
		"cancel-in-progress: false",
	} {
		if !strings.Contains(wf, want) {
			t.Errorf("the workflow lacks %q", want)
		}
	}
	for _, bad := range []string{"aws-access-key-id", "AWS_SECRET_ACCESS_KEY", "continue-on-error"} {
		if strings.Contains(wf, bad) {
			t.Errorf("the workflow has %q", bad)
		}
	}
}
