package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/lab"
)

func TestLabExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"clean stop", nil, ExitOK, ""},
		{"did not stop cleanly", &lab.StopError{Err: errors.New("listener busy")}, ExitFailed, "relayshift lab: stop: listener busy"},
		{"could not start", errors.New("AWS endpoint: address in use"), ExitUsage, "relayshift lab: AWS endpoint: address in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := labExitCode(&Env{Stderr: &stderr}, tc.err); code != tc.code || !strings.Contains(stderr.String(), tc.msg) || (tc.msg == "") != (stderr.Len() == 0) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}
