package emulators

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/relayshift/relayshift/internal/lab/awsapi"
)

// Region is the region every emulator test uses.
const Region = "us-east-1"

// Call is one AWS API request an emulator received.
type Call struct {
	// Service is the SigV4 signing name, e.g. "elasticloadbalancing",
	// "states", "monitoring".
	Service string
	// Action is the operation, e.g. "ModifyListener".
	Action string
	// Params are the awsQuery form parameters (nil for other protocols).
	Params url.Values
	// Body is the raw request body.
	Body []byte
}

// IAMAction returns the IAM action the call needs, e.g.
// "elasticloadbalancing:ModifyListener".
func (c Call) IAMAction() string {
	prefix := c.Service
	if prefix == "monitoring" {
		prefix = "cloudwatch"
	}
	return prefix + ":" + c.Action
}

// Recorder is a reverse proxy that records every AWS API call it forwards.
type Recorder struct {
	// URL is the proxy's address: point AWS_ENDPOINT_URL here.
	URL   string
	mu    sync.Mutex
	calls []Call
}

// NewRecorder starts a recording proxy in front of target.
func NewRecorder(t testing.TB, target string) *Recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("recorder target %q: %v", target, err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		if c, ok := parseCall(req, body); ok {
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// parseCall recognises the three protocols the SDK uses: awsQuery (Action
// form field), awsJson (X-Amz-Target) and rpcv2-CBOR (/service/S/operation/O).
func parseCall(req *http.Request, body []byte) (Call, bool) {
	c := Call{Service: awsapi.SigningName(req.Header.Get("Authorization")), Body: body}
	switch {
	case req.Header.Get("X-Amz-Target") != "":
		_, c.Action, _ = strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	case strings.Contains(req.URL.Path, "/operation/"):
		_, c.Action, _ = strings.Cut(req.URL.Path, "/operation/")
	case strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return Call{}, false
		}
		c.Params, c.Action = v, v.Get("Action")
	}
	return c, c.Action != ""
}

// Calls returns the calls recorded so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Actions returns the names of the recorded calls, in order.
func (r *Recorder) Actions() []string {
	var out []string
	for _, c := range r.Calls() {
		out = append(out, c.Action)
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Moto is a running moto_server behind a Recorder.
type Moto struct {
	*Recorder
	// Direct is moto's own address, bypassing the recorder.
	Direct string
}

// StartMoto starts moto_server on a free loopback port for the test's
// lifetime. It fails the test if moto_server is not on PATH.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server is not on PATH: the emulator tier needs it (see AWS-FACTS.md; `make test` checks for it): %v", err)
	}
	port := FreePort(t)
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() { stop(cmd) })
	direct := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitHTTP(direct+"/moto-api/", 20*time.Second); err != nil {
		t.Fatalf("moto_server did not come up: %v\n%s", err, out.String())
	}
	return &Moto{Recorder: NewRecorder(t, direct), Direct: direct}
}

// Query sends an awsQuery request straight to moto (not recorded), for
// set-up calls the project has no SDK client for (EC2).
func (m *Moto) Query(t testing.TB, service string, params url.Values) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.Direct+"/", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", fmt.Sprintf(
		"AWS4-HMAC-SHA256 Credential=test/20261127/%s/%s/aws4_request, SignedHeaders=host, Signature=0", Region, service))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("moto %s %s: %v", service, params.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto %s %s: HTTP %d: %s", service, params.Get("Action"), resp.StatusCode, b)
	}
	return b
}

// AWSConfig returns an SDK configuration that sends every call to
// endpoint with dummy credentials.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// Env returns the environment variables that point a Lambda binary or the
// CLI at endpoint.
func Env(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":          endpoint,
		"AWS_REGION":                Region,
		"AWS_ACCESS_KEY_ID":         "test",
		"AWS_SECRET_ACCESS_KEY":     "test",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHTTP(u string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// DecodeJSON is a small helper for tests reading JSON bodies.
func DecodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
