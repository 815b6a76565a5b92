package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for the lab's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// relayshift lab runs until its context ends (cmd/relayshift cancels it on
// SIGINT/SIGTERM) and exits 0 after a clean stop; a lab that cannot start
// exits 1 with the reason.
func TestLabCommandExitCodes(t *testing.T) {
	template, err := filepath.Abs(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config := func(template string) string {
		path := filepath.Join(t.TempDir(), "lab.yaml")
		if err := os.WriteFile(path, []byte("template: "+template+`
endpoint: 127.0.0.1:0
loadBalancer: {production: 127.0.0.1:0, test: 127.0.0.1:0}
blue: {relaysim: {instances: 1, version: v1}}
green: {relaysim: {instances: 1, version: v2}}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	env := func(stdout, stderr *syncBuffer) *cli.Env {
		return &cli.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Now: time.Now,
			Lookup: func(string) (string, bool) { return "", false }}
	}

	t.Run("stopped by its context", func(t *testing.T) {
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan int, 1)
		go func() { done <- cli.Main(ctx, env(&stdout, &stderr), []string{"lab", "-config", config(template)}) }()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stdout.String(), "Ctrl-C stops the lab") {
			select {
			case code := <-done:
				t.Fatalf("exited %d before serving\n%s", code, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no summary after 20 s\n%s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case code := <-done:
			if code != cli.ExitOK || !strings.Contains(stderr.String(), "relayshift lab: stopped") {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("still running 30 s after its context ended")
		}
	})
	t.Run("cannot start", func(t *testing.T) {
		var stdout, stderr syncBuffer
		code := cli.Main(context.Background(), env(&stdout, &stderr), []string{"lab", "-config", config(filepath.Join(t.TempDir(), "missing.yaml"))})
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), "relayshift lab: template:") {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	})
}
