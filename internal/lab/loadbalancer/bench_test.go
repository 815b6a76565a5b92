package loadbalancer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkProxy measures a request through the lab's ALB (routing,
// weighted choice, reverse proxy, metrics) against the same request sent
// to the target directly, on loopback with keep-alive.
func BenchmarkProxy(b *testing.B) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	defer target.Close()
	lb := New(Config{Seed: 1, Metrics: discardSink{}})
	defer lb.Close(context.Background())
	blue, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "blue", HealthCheck: HealthCheck{Disabled: true}})
	green, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "green", HealthCheck: HealthCheck{Disabled: true}})
	blue.RegisterTargets(target.URL)
	green.RegisterTargets(target.URL)
	l, err := lb.AddListener(ListenerSpec{Key: "p", DefaultActions: forward(blue.ARN(), 90, green.ARN(), 10)})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, bc := range []struct{ name, url string }{{"direct", target.URL}, {"through-alb", l.URL()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(bc.url + "/v1/models")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

type discardSink struct{}

func (discardSink) Publish(string, time.Time, []Datum) {}
