package bench

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bootstrap is one function's binary: its size as `make build` ships it
// (linux/arm64) and its init time under aws-lambda-rie (a host build with
// the same flags).
type Bootstrap struct {
	Name     string
	Size     int64
	MemoryMB int
	// InitMs is the runtime's own INIT REPORT of each cold start: from
	// aws-lambda-rie starting the bootstrap to the bootstrap asking for its
	// first event (Lambda's Init Duration).
	InitMs []float64
	// FirstMinusWarm is each cold start's first invocation latency minus
	// the median latency of the warm invocations that followed: the cold
	// start as a caller sees it, a cross-check of InitMs.
	FirstMinusWarm []time.Duration
}

// lambdaBuildFlags are the Makefile's LAMBDA_GOFLAGS.
var lambdaBuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// buildHost builds every functions/<name> for this machine with the
// Lambda build flags into dir/<name>.
func buildHost(ctx context.Context, goTool, root, dir string) error {
	args := append([]string{"build"}, lambdaBuildFlags...)
	args = append(args, "-o", dir+string(filepath.Separator), "./functions/...")
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./functions/...: %w\n%s", err, out)
	}
	return nil
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// rieRun is one cold start of a bootstrap under aws-lambda-rie.
type rieRun struct {
	RIE, Bootstrap string
	Env            []string
	// Warm is the number of invocations after the first.
	Warm int
}

type rieResult struct {
	InitMs float64
	First  time.Duration
	Warm   []time.Duration
}

// run starts aws-lambda-rie, invokes the function 1+Warm times with {},
// stops it, and reads the runtime's INIT REPORT from its log.
func (r rieRun) run(ctx context.Context) (res rieResult, err error) {
	port, err := freePort()
	if err != nil {
		return res, err
	}
	apiPort, err := freePort()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(r.RIE, "--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(port),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort), r.Bootstrap)
	cmd.Env = r.Env
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		terminate(cmd)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			kill(cmd)
			<-exited
		}
	}
	defer stop()

	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("aws-lambda-rie did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-exited:
			return res, fmt.Errorf("aws-lambda-rie exited:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	for i := range 1 + r.Warm {
		d, err := invokeOnce(ctx, client, url)
		if err != nil {
			return res, fmt.Errorf("invoke %d: %w\n%s", i+1, err, logs.String())
		}
		if i == 0 {
			res.First = d
		} else {
			res.Warm = append(res.Warm, d)
		}
	}
	stop()
	res.InitMs, err = parseInitReport(logs.String())
	return res, err
}

// parseInitReport reads the init phase's duration from aws-lambda-rie's
// log: "INIT REPORT(durationMs: 14.080000)", which it prints when the
// bootstrap, started for the first invocation, asks for its first event.
func parseInitReport(logs string) (float64, error) {
	m := initReport.FindStringSubmatch(logs)
	if m == nil {
		return 0, fmt.Errorf("aws-lambda-rie printed no INIT REPORT:\n%s", logs)
	}
	return strconv.ParseFloat(m[1], 64)
}

// invokeOnce sends {} and returns the round trip. The answer (often a
// function error: {} is no function's valid input) does not matter; an
// invocation that does not answer does.
func invokeOnce(ctx context.Context, client *http.Client, url string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return d, nil
}

// functionEnv is the environment of a bootstrap under aws-lambda-rie: this
// process's, without its AWS_ and RELAYSHIFT_ variables, plus the
// function's (as the template and the lab give it) and the Lambda
// runtime's own.
func functionEnv(base []string, fn map[string]string, name string, memoryMB, timeout int) []string {
	var out []string
	for _, kv := range base {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RELAYSHIFT_") {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(fn)) {
		out = append(out, k+"="+fn[k])
	}
	return append(out,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(memoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(timeout),
	)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

// findRIE returns the aws-lambda-rie to use: the flag's, else `make
// tools`' in root/.tools/bin, else PATH's.
func findRIE(flag, root string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	local := filepath.Join(root, ".tools", "bin", "aws-lambda-rie")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", errors.New("aws-lambda-rie is not installed: run `make tools`")
}

// checkARM64 checks that path is a linux/arm64 executable, as `make build`
// writes it.
func checkARM64(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("%s is a %s binary, not linux/arm64: run make build", path, f.Machine)
	}
	return nil
}
