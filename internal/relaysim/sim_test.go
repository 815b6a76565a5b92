package relaysim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/relaysim"
)

func newSim(t *testing.T, cfg relaysim.Config) (*relaysim.Sim, *httptest.Server) {
	t.Helper()
	sim, err := relaysim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv
}

func do(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func chat(t *testing.T, url string, stream bool, header ...string) (int, string) {
	t.Helper()
	body := `{"model":"sim-small","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
	resp, b := do(t, http.MethodPost, url+"/v1/chat/completions", body, header...)
	if resp == nil {
		return 0, b
	}
	return resp.StatusCode, b
}

func TestSimServesOpenAIShapes(t *testing.T) {
	_, srv := newSim(t, relaysim.Config{APIKey: "k", Version: "v7"})
	resp, body := do(t, http.MethodGet, srv.URL+"/health", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Relay-Version") != "v7" || !strings.Contains(body, `"version":"v7"`) {
		t.Fatalf("/health: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodGet, srv.URL+"/v1/models", ""); resp.StatusCode != 401 {
		t.Fatalf("/v1/models without key: %d", resp.StatusCode)
	}
	_, body = do(t, http.MethodGet, srv.URL+"/v1/models", "", "Authorization", "Bearer k")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != "sim-small" {
		t.Fatalf("/v1/models: %v %s", err, body)
	}

	status, body := chat(t, srv.URL, false, "Authorization", "Bearer k")
	var cc struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &cc); status != 200 || err != nil || cc.Object != "chat.completion" ||
		cc.Choices[0].Message.Content != "[v7] Hello from" || cc.Usage.CompletionTokens != 3 {
		t.Fatalf("chat: %d %v %s", status, err, body)
	}

	status, body = chat(t, srv.URL, true, "Authorization", "Bearer k")
	var events []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			events = append(events, line)
		}
	}
	if status != 200 || len(events) != 6 || events[len(events)-1] != "data: [DONE]" || !strings.Contains(events[0], `"role":"assistant"`) ||
		!strings.Contains(body, "\n\n") {
		t.Fatalf("stream: %d %q", status, events)
	}
}

func TestSimErrorRateIsDeterministic(t *testing.T) {
	sim, srv := newSim(t, relaysim.Config{Faults: relaysim.Faults{ErrorRate: 0.2, ErrorStatus: 503}})
	var got []int
	for range 15 {
		status, _ := chat(t, srv.URL, false)
		got = append(got, status)
	}
	want := []int{200, 200, 200, 200, 503, 200, 200, 200, 200, 503, 200, 200, 200, 200, 503}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if s := sim.Stats(); s.Errors != 3 || s.Chat != 15 || s.Eligible != 15 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSimExemptHeaderAndRuntimeChange(t *testing.T) {
	sim, srv := newSim(t, relaysim.Config{Faults: relaysim.Faults{ErrorRate: 1, ExemptHeader: "X-Test-Route: 1"}})
	if status, _ := chat(t, srv.URL, false, "X-Test-Route", "1"); status != 200 {
		t.Fatalf("exempt request: %d", status)
	}
	if status, _ := chat(t, srv.URL, false, "X-Test-Route", "2"); status != 500 {
		t.Fatalf("header with another value: %d", status)
	}
	if status, _ := chat(t, srv.URL, true); status != 500 {
		t.Fatalf("request without the header: %d", status)
	}
	// Heal it over HTTP.
	resp, body := do(t, http.MethodPut, srv.URL+"/_relaysim/faults", `{"errorRate":0,"latency":"1ms"}`)
	if resp.StatusCode != 200 || sim.Faults().Latency != relaysim.Duration(time.Millisecond) {
		t.Fatalf("PUT faults: %d %s", resp.StatusCode, body)
	}
	if status, _ := chat(t, srv.URL, false); status != 200 {
		t.Fatalf("after healing: %d", status)
	}
	if resp, body := do(t, http.MethodPut, srv.URL+"/_relaysim/faults", `{"errorRate":2,"bogus":1}`); resp.StatusCode != 400 {
		t.Fatalf("bad faults accepted: %d %s", resp.StatusCode, body)
	}
	_, body = do(t, http.MethodGet, srv.URL+"/_relaysim/faults", "")
	if !strings.Contains(body, `"latency":"1ms"`) {
		t.Fatalf("GET faults: %s", body)
	}
}

func TestSimCrash(t *testing.T) {
	sim, srv := newSim(t, relaysim.Config{Faults: relaysim.Faults{CrashAfter: 2}})
	for i := range 2 {
		if status, _ := chat(t, srv.URL, false); status != 200 {
			t.Fatalf("request %d before the crash: %d", i+1, status)
		}
	}
	if status, msg := chat(t, srv.URL, false); status != 0 {
		t.Fatalf("request after the crash answered %d", status)
	} else {
		t.Logf("after the crash: %s", msg)
	}
	if resp, _ := do(t, http.MethodGet, srv.URL+"/health", ""); resp != nil {
		t.Fatalf("/health of a crashed relay answered %d", resp.StatusCode)
	}
	if err := sim.SetFaults(relaysim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, http.MethodGet, srv.URL+"/health", ""); resp == nil || resp.StatusCode != 200 {
		t.Fatal("revived relay does not answer /health")
	}
}

func TestSimSlowStart(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, srv := newSim(t, relaysim.Config{Now: clock, Faults: relaysim.Faults{StartDelay: relaysim.Duration(30 * time.Second)}})
	for _, path := range []string{"/health", "/ready", "/v1/models"} {
		if resp, _ := do(t, http.MethodGet, srv.URL+path, ""); resp.StatusCode != 503 {
			t.Fatalf("%s while starting: %d", path, resp.StatusCode)
		}
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	if resp, _ := do(t, http.MethodGet, srv.URL+"/ready", ""); resp.StatusCode != 200 {
		t.Fatalf("/ready after the start delay: %d", resp.StatusCode)
	}
}

func TestSimValidates(t *testing.T) {
	for _, f := range []relaysim.Faults{
		{ErrorRate: 1.5}, {ErrorStatus: 200}, {Latency: -1}, {CrashAfter: -1}, {ExemptHeader: "bad header: x"},
	} {
		if _, err := relaysim.New(relaysim.Config{Faults: f}); err == nil {
			t.Errorf("faults %+v accepted", f)
		}
	}
}

func TestStartListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "192.168.1.1:0", "example.com:80"} {
		if _, err := relaysim.Start(addr, relaysim.Config{}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Start(%q): %v", addr, err)
		}
	}
	s, err := relaysim.Start("127.0.0.1:0", relaysim.Config{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, http.MethodGet, s.URL+"/health", ""); resp == nil || resp.StatusCode != 200 {
		t.Fatal("started relay does not answer /health")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if resp, _ := do(t, http.MethodGet, s.URL+"/health", ""); resp != nil {
		t.Fatal("relay still answers after Shutdown")
	}
}
