package cli_test

import (
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/cli"
)

func TestBenchCommand(t *testing.T) {
	h := newHarness(t)
	code, stdout, _ := h.run("bench", "--help")
	if code != cli.ExitOK || !strings.Contains(stdout, "-weight-changes") || !strings.Contains(stdout, "make bench") {
		t.Errorf("bench --help: exit %d\n%s", code, stdout)
	}
	code, _, stderr := h.run("bench", "--runs", "0", "--rate", "100000")
	if code != cli.ExitUsage || !strings.Contains(stderr, "runs 0") || !strings.Contains(stderr, "rate 100000") {
		t.Errorf("bench with bad flags: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := h.run("--help"); code != cli.ExitOK || !strings.Contains(stdout, "bench") {
		t.Errorf("relayshift --help does not list bench:\n%s", stdout)
	}
}
