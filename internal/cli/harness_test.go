package cli_test

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/cli"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stepfn/stepfntest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is when every scripted deployment starts.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// harness runs the CLI in-process against the fake Step Functions
// endpoint, on a manual clock that the CLI's Sleep advances.
type harness struct {
	t     *testing.T
	clock *stepfntest.Clock
	sfn   *stepfntest.Server
	sm    string
	// endpoint receives every AWS call (the fake, or a router in front of
	// it and moto).
	endpoint string
	env      map[string]string
	stdin    string
	terminal bool
	// noRegion makes the AWS configuration carry no region (as with no
	// AWS_REGION and no profile).
	noRegion bool
	// interruptAfter, when positive, cancels the command's context at
	// that many sleeps (Ctrl-C while following).
	interruptAfter int
	// realTime runs the CLI on the wall clock (for emulators that stamp
	// executions with it).
	realTime bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clock := stepfntest.NewClock(t0)
	srv := stepfntest.NewServer(t, clock)
	srv.Scenario = scenarios
	srv.Definition = definition(t)
	h := &harness{t: t, clock: clock, sfn: srv, endpoint: srv.URL, sm: srv.AddStateMachine("relayshift-deploy")}
	h.env = map[string]string{"RELAYSHIFT_STATE_MACHINE_ARN": h.sm}
	return h
}

// run runs relayshift with args and returns its exit code, stdout and
// stderr.
func (h *harness) run(args ...string) (int, string, string) {
	h.t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{
		Stdin: strings.NewReader(h.stdin), Stdout: &stdout, Stderr: &stderr,
		Lookup: func(k string) (string, bool) { v, ok := h.env[k]; return v, ok },
		Now:    h.clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.clock.Advance(d)
			return ctx.Err()
		},
		Terminal: h.terminal,
		AWSConfig: func(_ context.Context, region, _ string) (aws.Config, error) {
			cfg := emulators.AWSConfig(h.endpoint)
			// The follower's own tolerance of failed polls is under test,
			// not the SDK's retries (whose backoff sleeps for real).
			cfg.RetryMaxAttempts = 1
			if h.noRegion {
				cfg.Region = ""
			}
			if region != "" {
				cfg.Region = region
			}
			return cfg, nil
		},
	}
	if h.realTime {
		env.Now = time.Now
		env.Sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if h.interruptAfter > 0 {
		sleeps, sleep := 0, env.Sleep
		env.Sleep = func(c context.Context, d time.Duration) error {
			if sleeps++; sleeps == h.interruptAfter {
				cancel()
			}
			return sleep(c, d)
		}
	}
	code := cli.Main(ctx, env, args)
	return code, stdout.String(), stderr.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// visible makes a terminal stream readable in a golden file: the escape
// sequences the progress view writes become {tokens}.
func visible(s string) string {
	return strings.NewReplacer(
		"\r\x1b[2K", "{clear}",
		"\x1b[32;1m", "{green}", "\x1b[31;1m", "{red}", "\x1b[33;1m", "{yellow}", "\x1b[0m", "{reset}",
	).Replace(s)
}

// screen is what a terminal shows once the stream has been written: it
// interprets carriage returns, erase-line and colour sequences.
func screen(s string) string {
	var lines []string
	var cur []rune
	col := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			col = 0
		case r == '\n':
			lines = append(lines, strings.TrimRight(string(cur), " "))
			cur, col = nil, 0
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < '@' || rs[j] > '~') {
				j++
			}
			if j < len(rs) && rs[j] == 'K' {
				cur = nil
			}
			i = j
		default:
			for len(cur) <= col {
				cur = append(cur, ' ')
			}
			cur[col] = r
			col++
		}
	}
	if len(cur) > 0 {
		lines = append(lines, strings.TrimRight(string(cur), " "))
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestScreenInterpretsTheTerminalStream(t *testing.T) {
	got := screen("| Bake 10s\r\x1b[2K/ Bake 20s\r\x1b[2K[00:30] line\n\x1b[31;1mRED\x1b[0m done\n- status")
	want := "[00:30] line\nRED done\n- status\n"
	if got != want {
		t.Fatalf("screen = %q, want %q", got, want)
	}
}

// route starts a proxy that sends Step Functions calls (awsJson1_0, by
// X-Amz-Target) to sfnURL and every other call to otherURL, so one
// endpoint serves the fake Step Functions and moto's ELBv2.
func route(t *testing.T, sfnURL, otherURL string) string {
	t.Helper()
	proxy := func(raw string) *httputil.ReverseProxy {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return httputil.NewSingleHostReverseProxy(u)
	}
	toSFN, toOther := proxy(sfnURL), proxy(otherURL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.") {
			toSFN.ServeHTTP(w, r)
			return
		}
		toOther.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
