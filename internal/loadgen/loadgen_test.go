package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/poll"
)

func TestRunIsBoundedAndCountsByColour(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		colour := "blue"
		if i%2 == 0 {
			colour = "green"
		}
		w.Header().Set("X-Colour", colour)
		if colour == "green" && i%4 == 0 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	r, err := Start(context.Background(), Config{
		URL: srv.URL, Rate: 400, Concurrency: 8, MaxRequests: 40, MaxDuration: 10 * time.Second,
		Timeout: time.Second, ColourHeader: "X-Colour",
	})
	if err != nil {
		t.Fatal(err)
	}
	// 40 requests at 400 a second: the run ends by itself.
	if err := poll.Until(context.Background(), 5*time.Millisecond, 10*time.Second, "the 40 requests", func(context.Context) (bool, error) {
		return len(r.Outcomes())+r.Skipped() == 40, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	out := r.Outcomes()
	if len(out)+r.Skipped() != 40 || int(n.Load()) != len(out) {
		t.Fatalf("%d outcomes + %d skipped, server saw %d; want 40 in all", len(out), r.Skipped(), n.Load())
	}
	by := ByColour(out)
	if by["blue"].Failures != 0 || by["green"].Failures != by["green"].Requests/2 {
		t.Fatalf("by colour: %+v", by)
	}
}

func TestStopEndsTheRunWithoutCountingCutRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	r, err := Start(context.Background(), Config{
		URL: srv.URL, Rate: 50, Concurrency: 4, MaxRequests: 1000, MaxDuration: time.Minute, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	r.Stop()
	if f := Summarise(r.Outcomes()).Failures; f != 0 {
		t.Fatalf("%d requests cut by Stop counted as failures", f)
	}
}

func TestConfigRefusesUnboundedOrRemoteLoad(t *testing.T) {
	base := Config{URL: "http://127.0.0.1:1/", Rate: 10, Concurrency: 1, MaxRequests: 1, MaxDuration: time.Second, Timeout: time.Second}
	for name, mut := range map[string]func(*Config){
		"remote host":     func(c *Config) { c.URL = "http://example.com/" },
		"no request cap":  func(c *Config) { c.MaxRequests = 0 },
		"no duration cap": func(c *Config) { c.MaxDuration = 0 },
		"no rate":         func(c *Config) { c.Rate = 0 },
	} {
		c := base
		mut(&c)
		if _, err := Start(context.Background(), c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080/v1": true, "http://localhost:1": true, "http://[::1]:80/": true, "http://127.0.0.2/": true,
		"http://192.0.2.1:80": false, "http://example.com/": false, "/v1/chat/completions": false, "http://0.0.0.0:80": false,
	} {
		if err := Loopback(u); (err == nil) != ok {
			t.Errorf("Loopback(%q) = %v, want ok %v", u, err, ok)
		}
	}
}

// Send reads the whole answer: a body cut after its headers is a failure
// with the colour that started it; a 5xx is a failure; headers go out.
func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Colour", "green")
		switch r.URL.Path {
		case "/cut":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("data: {}\n\n"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer k" {
				w.WriteHeader(http.StatusBadRequest)
			}
		}
	}))
	defer srv.Close()
	q := Request{Method: http.MethodPost, Body: []byte(`{}`), Header: http.Header{"Authorization": {"Bearer k"}}}
	for _, tc := range []struct {
		path, colourHeader string
		want               Outcome
		failed             bool
	}{
		{"/ok", "X-Colour", Outcome{Colour: "green", Status: http.StatusOK}, false},
		{"/ok", "", Outcome{Status: http.StatusOK}, false},
		{"/down", "X-Colour", Outcome{Colour: "green", Status: http.StatusServiceUnavailable}, true},
		{"/cut", "X-Colour", Outcome{Colour: "green", Status: 0}, true},
	} {
		o := q.Send(context.Background(), srv.Client(), srv.URL+tc.path, tc.colourHeader)
		if o.Colour != tc.want.Colour || o.Status != tc.want.Status || o.Failed() != tc.failed || o.At.IsZero() {
			t.Errorf("%s: %+v, want colour %q, status %d, failed %v", tc.path, o, tc.want.Colour, tc.want.Status, tc.failed)
		}
	}
	srv.Close()
	if o := q.Send(context.Background(), srv.Client(), srv.URL, "X-Colour"); !o.Failed() || o.Status != 0 {
		t.Errorf("a closed server: %+v, want a transport failure", o)
	}
}

// A server that stops answering shows as requests not sent (the
// concurrency cap), by when they were due, not as failures.
func TestSkippedBetweenCountsWhatAStallDidNotSend(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	start := time.Now()
	r, err := Start(context.Background(), Config{URL: srv.URL, Rate: 500, Concurrency: 1, MaxRequests: 20, MaxDuration: time.Minute, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := poll.Until(context.Background(), 5*time.Millisecond, 10*time.Second, "19 requests skipped", func(context.Context) (bool, error) {
		return r.Skipped() == 19, nil
	}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := poll.Until(context.Background(), 5*time.Millisecond, 10*time.Second, "the one request's answer", func(context.Context) (bool, error) {
		return len(r.Outcomes()) == 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	end := time.Now()
	if n := r.SkippedBetween(start, end); n != 19 {
		t.Errorf("skipped between the start and the end: %d, want 19", n)
	}
	if n := r.SkippedBetween(end, end.Add(time.Hour)); n != 0 {
		t.Errorf("skipped after the end: %d, want 0", n)
	}
	if f := Summarise(r.Outcomes()); f.Requests != 1 || f.Failures != 0 {
		t.Errorf("outcomes %+v: want the one request sent, not failed", f)
	}
}

func TestClosedLoopIsBoundedAndLoopbackOnly(t *testing.T) {
	ok := ClosedLoop{URLs: []string{"http://127.0.0.1:1"}, Workers: 4, Duration: time.Second, MaxRequests: 10, Timeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*ClosedLoop)
	}{
		{"not loopback", func(c *ClosedLoop) { c.URLs = []string{"http://192.0.2.1:80"} }},
		{"one URL of two not loopback", func(c *ClosedLoop) { c.URLs = append(c.URLs, "http://192.0.2.1:80") }},
		{"no URL", func(c *ClosedLoop) { c.URLs = nil }},
		{"too many workers", func(c *ClosedLoop) { c.Workers = 1000 }},
		{"unbounded in time", func(c *ClosedLoop) { c.Duration = 0 }},
		{"unbounded in count", func(c *ClosedLoop) { c.MaxRequests = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.URLs = slices.Clone(ok.URLs)
			tc.edit(&c)
			if _, err := c.Run(context.Background()); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestClosedLoopStopsAtMaxRequestsAndTakesTurns(t *testing.T) {
	var served [2]atomic.Int64
	var srvs [2]*httptest.Server
	for i := range srvs {
		srvs[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served[i].Add(1)
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
		}))
		defer srvs[i].Close()
	}
	res, err := ClosedLoop{URLs: []string{srvs[0].URL, srvs[1].URL}, Request: Request{Method: http.MethodPost}, Workers: 1,
		Duration: 30 * time.Second, MaxRequests: 25, Timeout: time.Second}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 25 || res.Failures != 0 || served[0].Load() != 13 || served[1].Load() != 12 {
		t.Errorf("%+v, served %d and %d: want 25 requests, none failed, 13 and 12", res, served[0].Load(), served[1].Load())
	}
}
