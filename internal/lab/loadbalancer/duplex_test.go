package loadbalancer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestStreamingAnswerOutlivesTheRequestBody: a target may start streaming
// its answer before the request body has ended, and the proxy must keep
// forwarding both ways. A Go HTTP/1 server closes the inbound body when
// the handler writes its response headers, unless the handler enables
// full duplex (golang/go#40747); then the transport's next read of the
// body it forwards fails and tears the upstream connection down
// mid-stream. The same race hit a few streamed chat completions in a
// thousand with ordinary Content-Length bodies: the transport reads the
// body once more after its declared length, and that read sometimes came
// after the close. Here the client ends its (chunked) body only after the
// first event arrived, which makes the problem certain: without full
// duplex the proxy's server waits for the body to end before the answer
// can start (a backstop ends it after a few seconds, and the test fails).
func TestStreamingAnswerOutlivesTheRequestBody(t *testing.T) {
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		// Read the request's first JSON value and answer at once.
		var req struct{ N int }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
			fl.Flush()
			time.Sleep(20 * time.Millisecond)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer sse.Close()
	f := newFixture(t, []string{sse.URL}, []string{relay(t, "g").URL}, [2]int{1, 0})
	f.waitHealthy(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.prod.URL()+"/v1/chat/completions", pr)
	first := make(chan struct{})
	backstop := make(chan bool, 1)
	go func() {
		io.WriteString(pw, `{"n": 1}`+"\n")
		select {
		case <-first:
			backstop <- false
		case <-time.After(3 * time.Second):
			backstop <- true
		}
		pw.Close() // the request body ends while the answer streams
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var events []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream was cut after %q: %v", events, err)
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		events = append(events, line)
		if len(events) == 1 {
			close(first)
		}
		if line == "data: [DONE]" {
			break
		}
	}
	if <-backstop {
		t.Fatal("the answer did not start while the request body was still open: the proxy waited for the body to end")
	}
	want := []string{`data: {"chunk":0}`, `data: {"chunk":1}`, `data: {"chunk":2}`, "data: [DONE]"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}
