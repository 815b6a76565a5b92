package lab

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/emulators"
)

// `relayshift lab` as users run it: the built binary prints the endpoints
// and the environment, serves them, and on Ctrl-C (SIGINT) stops
// everything and exits 0, leaving nothing listening.
func TestRelayshiftLabCommandStopsCleanlyOnInterrupt(t *testing.T) {
	root := emulators.ModuleRoot(t)
	bin := filepath.Join(t.TempDir(), "relayshift")
	build := exec.Command("go", "build", "-o", bin, "./cmd/relayshift")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(cfg, []byte(`template: `+filepath.Join(root, "template.yaml")+`
endpoint: 127.0.0.1:0
loadBalancer:
  production: 127.0.0.1:0
  test: 127.0.0.1:0
blue:
  relaysim: {instances: 1, version: v1}
green:
  relaysim: {instances: 1, version: v2}
`), 0o644)

	cmd := exec.Command(bin, "lab", "-config", cfg)
	stdout, _ := cmd.StdoutPipe()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitOnce sync.Once
	var waitErr error
	wait := func() error { waitOnce.Do(func() { waitErr = cmd.Wait() }); return waitErr }
	// Whatever happens, the process is gone (and reaped) when the test
	// ends.
	t.Cleanup(func() { cmd.Process.Kill(); wait() })

	// Read the summary up to its last line.
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Ctrl-C stops the lab") {
			break
		}
	}
	summary := out.String()
	for _, want := range []string{"export AWS_ENDPOINT_URL=http://127.0.0.1:", "export RELAYSHIFT_LISTENER_ARN=arn:aws:elasticloadbalancing:",
		"export RELAYSHIFT_STATE_MACHINE_ARN=", "alarms         6 from", "-> relayshift-RollbackFunction"} {
		if !strings.Contains(summary, want) {
			t.Fatalf("summary lacks %q:\n%s\nstderr:\n%s", want, summary, stderr.String())
		}
	}
	addrs := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`).FindAllStringSubmatch(summary, -1)
	if len(addrs) < 5 {
		t.Fatalf("addresses in the summary: %v", addrs)
	}
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a[1], time.Second)
		if err != nil {
			t.Fatalf("%s not listening while the lab runs: %v", a[1], err)
		}
		c.Close()
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("exit %d after SIGINT\n%s", ee.ExitCode(), stderr.String())
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after SIGINT (killed)\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "relayshift lab: stopped") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a[1], time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after the lab stopped", a[1])
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
