package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
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
	<-r.Done()
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
