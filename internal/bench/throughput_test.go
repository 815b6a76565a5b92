package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopIsBoundedAndLoopbackOnly(t *testing.T) {
	ok := closedLoop{URLs: []string{"http://127.0.0.1:1"}, Workers: 4, Duration: time.Second, MaxRequests: 10, Timeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*closedLoop)
	}{
		{"not loopback", func(c *closedLoop) { c.URLs = []string{"http://192.0.2.1:80"} }},
		{"no URL", func(c *closedLoop) { c.URLs = nil }},
		{"too many workers", func(c *closedLoop) { c.Workers = 1000 }},
		{"unbounded in time", func(c *closedLoop) { c.Duration = 0 }},
		{"unbounded in count", func(c *closedLoop) { c.MaxRequests = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := c.run(context.Background()); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestClosedLoopStopsAtMaxRequests(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	res, err := closedLoop{URLs: []string{srv.URL}, Method: http.MethodGet, Workers: 1, Duration: 30 * time.Second, MaxRequests: 25, Timeout: time.Second}.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 25 || res.Failures != 0 || served.Load() != 25 {
		t.Errorf("%+v, served %d: want 25 requests, none failed", res, served.Load())
	}
}
