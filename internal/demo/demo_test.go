package demo_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/demo"
	"github.com/relayshift/relayshift/internal/emulators"
)

// TestDemoTellsBothStories runs `relayshift demo` in process with short
// settings (AWS time 60 times faster): v2 must be promoted, v3 rolled back
// with the output naming the path that did it, the exit status 0, and
// nothing left listening. Which path rolls v3 back is the demo's to find
// out (the alarm, by design; the evaluation if the alarm were late), not
// the test's to assume; the lab's own e2e test pins the alarm path.
func TestDemoTellsBothStories(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""),
		Lookup: func(string) (string, bool) { return "", false }, Now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := cli.Main(ctx, env, []string{"demo", "--template", filepath.Join(emulators.ModuleRoot(t), "template.yaml"),
		"--time-scale", "0.0166667", "--rate", "100"})
	out := stdout.String()
	t.Logf("relayshift demo (exit %d):\n%s\nstderr:\n%s", code, out, stderr.String())
	if code != demo.ExitOK {
		t.Fatalf("exit %d, want %d", code, demo.ExitOK)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\[ *[0-9.]+s\] v2 +■ execution SUCCEEDED$`),
		regexp.MustCompile(`v2 promoted to green \(blue=0,green=100\)`),
		regexp.MustCompile(`(?m)^\[ *[0-9.]+s\] v3 +■ execution (ABORTED by StopExecution|FAILED): RolledBack$`),
		regexp.MustCompile(`rollback +rolled back by the (ALARM|EVALUATE) path: `),
		regexp.MustCompile(`(?m)^2 faulty release +v3 +rolled back by the (alarm|evaluation) `),
		regexp.MustCompile(`(?m)^1 healthy release +v2 +promoted, green 100% `),
		regexp.MustCompile(`(?m)^\[ *[0-9.]+s\] check +ELBv2 DescribeListeners: blue=0,green=100, all traffic on green$`),
		regexp.MustCompile(`(?m)^Result: OK`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the output does not match %s", want)
		}
	}
	if n := strings.Count(out, "check    ELBv2 DescribeListeners: blue=0,green=100, all traffic on green"); n != 2 {
		t.Errorf("the listener was verified on green %d times, want 2 (after each story)", n)
	}

	// Nothing is left listening: the header named the lab's endpoints.
	for _, m := range regexp.MustCompile(`(?m)^  (?:AWS APIs|production) +http://(127\.0\.0\.1:[0-9]+)`).FindAllStringSubmatch(out, -1) {
		if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo", m[1])
		}
	}
}

func TestDemoRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"rate too high", []string{"--rate", "100000"}, "--rate 100000: want 10 to 500"},
		{"time scale above real time", []string{"--time-scale", "2"}, "--time-scale 2"},
		{"no error rate", []string{"--error-rate", "0"}, "--error-rate 0"},
		{"no template", []string{"--template", ""}, "--template: a SAM template is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: func(string) (string, bool) { return "", false }, Now: time.Now}
			code := cli.Main(context.Background(), env, append([]string{"demo"}, tc.args...))
			if code != demo.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), demo.ExitUsage, tc.want)
			}
		})
	}
}

func TestDemoHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: func(string) (string, bool) { return "", false }, Now: time.Now}
	if code := cli.Main(context.Background(), env, []string{"demo", "--help"}); code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: relayshift demo", "-time-scale", "-rate", "Exit codes:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, stdout.String())
		}
	}
}
