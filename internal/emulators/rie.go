package emulators

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Tool finds a tool installed by `make tools` (in .tools/bin) or on PATH,
// and fails the test naming the make target when it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	local := filepath.Join(ModuleRoot(t), ".tools", "bin", name)
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s is not installed: run `make tools` (or `make test`, which installs it)", name)
	return ""
}

// BuildFunction builds functions/<name> for the host with the Lambda build
// tags into dir/<name>/bootstrap and returns its path. dir outlives the
// test that builds it, so a test binary can build each function once.
func BuildFunction(t testing.TB, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/"+name)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// Function is a bootstrap binary running under aws-lambda-rie.
type Function struct {
	Name string
	// Endpoint is the emulator's base URL, the Lambda invoke endpoint.
	Endpoint string
	url      string
	mu       sync.Mutex
	logs     bytes.Buffer
}

// StartFunction runs bootstrap under aws-lambda-rie with env added to the
// test's environment, for the test's lifetime.
func StartFunction(t testing.TB, name, bootstrap string, env map[string]string) *Function {
	t.Helper()
	return StartFunctionOn(t, FreePort(t), name, bootstrap, env)
}

// StartFunctionOn is StartFunction with the invoke endpoint on a port chosen
// by the caller (for a configuration that must name it in advance).
func StartFunctionOn(t testing.TB, port int, name, bootstrap string, env map[string]string) *Function {
	t.Helper()
	rie := Tool(t, "aws-lambda-rie")
	apiPort := FreePort(t)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		bootstrap)
	cmd.Env = append(os.Environ(),
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	f := &Function{Name: name, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	f.url = f.Endpoint + "/2015-03-31/functions/function/invocations"
	w := lockedWriter{f}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	t.Cleanup(func() { stop(cmd) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie for %s did not listen: %v\n%s", name, err, f.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

type lockedWriter struct{ f *Function }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.logs.Write(p)
}

// Logs returns everything the emulator and the function printed so far.
func (f *Function) Logs() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// Result is the outcome of one invocation.
type Result struct {
	// Payload is the function's output when it succeeded.
	Payload json.RawMessage
	// ErrorType and ErrorMessage are set when the function returned an
	// error.
	ErrorType, ErrorMessage string
}

// Invoke sends payload (marshalled to JSON unless it is already []byte or
// json.RawMessage) and returns the result.
// NOTE: aws-lambda-rie answers a function error with HTTP 200 and a body
// {"errorType","errorMessage"}, without X-Amz-Function-Error (AWS-FACTS.md),
// so errors are recognised by the body.
func (f *Function) Invoke(ctx context.Context, payload any) (Result, error) {
	var body []byte
	switch p := payload.(type) {
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return Result{}, err
		}
		body = b
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: %w", f.Name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return Result{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("invoke %s: HTTP %d: %s", f.Name, resp.StatusCode, out)
	}
	var e struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage string  `json:"errorMessage"`
	}
	if t := bytes.TrimSpace(out); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &e) == nil && e.ErrorType != nil {
		return Result{ErrorType: *e.ErrorType, ErrorMessage: e.ErrorMessage}, nil
	}
	return Result{Payload: out}, nil
}

// MustSucceed invokes and fails the test unless the function succeeded,
// decoding its output into out (when not nil).
func (f *Function) MustSucceed(t testing.TB, payload, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := f.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, f.Logs())
	}
	if res.ErrorType != "" {
		t.Fatalf("%s failed: %s: %s\nlogs:\n%s", f.Name, res.ErrorType, res.ErrorMessage, lastLines(f.Logs(), 20))
	}
	if out != nil {
		DecodeJSON(t, res.Payload, out)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
