package loadbalancer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sink keeps every datapoint published, summed by metric and dimensions.
type sink struct {
	mu   sync.Mutex
	sums map[string]float64
	n    map[string]int
}

func newSink() *sink { return &sink{sums: map[string]float64{}, n: map[string]int{}} }

func (s *sink) Publish(ns string, _ time.Time, data []Datum) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range data {
		var dims []string
		for _, x := range d.Dimensions {
			dims = append(dims, x.Name)
		}
		k := d.Name + "{" + strings.Join(dims, ",") + "}"
		s.sums[k] += d.Value
		s.n[k]++
	}
}

func (s *sink) sum(k string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sums[k]
}

func (s *sink) count(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[k]
}

// fastHC checks every 20 ms and decides after one result.
var fastHC = HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1}

type fixture struct {
	lb          *LoadBalancer
	blue, green *TargetGroup
	prod        *Listener
	metrics     *sink
}

// relay is a target answering /health and echoing its name.
func relay(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusOK)
			return
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newFixture(t *testing.T, blueTargets, greenTargets []string, weights [2]int) *fixture {
	t.Helper()
	f := &fixture{metrics: newSink()}
	f.lb = New(Config{Name: "relay", Metrics: f.metrics, Seed: 42})
	t.Cleanup(func() { f.lb.Close(context.Background()) })
	var err error
	if f.blue, err = f.lb.AddTargetGroup(TargetGroupSpec{Name: "relay-blue", Colour: "blue", HealthCheck: fastHC, DeregistrationDelay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if f.green, err = f.lb.AddTargetGroup(TargetGroupSpec{Name: "relay-green", Colour: "green", HealthCheck: fastHC, DeregistrationDelay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.blue.RegisterTargets(blueTargets...); err != nil {
		t.Fatal(err)
	}
	if err := f.green.RegisterTargets(greenTargets...); err != nil {
		t.Fatal(err)
	}
	f.prod, err = f.lb.AddListener(ListenerSpec{Key: "production", DefaultActions: forward(f.blue.ARN(), weights[0], f.green.ARN(), weights[1])})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func forward(blue string, bw int, green string, gw int) []Action {
	return []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: blue, Weight: &bw}, {ARN: green, Weight: &gw}}}}}
}

// waitFor polls cond until it holds or a generous bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) waitHealthy(t *testing.T) {
	t.Helper()
	for _, tg := range []*TargetGroup{f.blue, f.green} {
		waitFor(t, tg.Name()+" healthy", func() bool {
			for _, h := range tg.Health() {
				if h.State != StateHealthy {
					return false
				}
			}
			return true
		})
	}
}

// load sends n GET requests with bounded concurrency and counts the
// colour header values (and status codes).
func load(t *testing.T, url string, n, conc int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for range jobs {
				resp, err := http.Get(url + "/v1/models")
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.Header.Get(DefaultColourHeader)]++
				if resp.StatusCode != http.StatusOK {
					counts[fmt.Sprintf("status %d", resp.StatusCode)]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return counts
}

func TestWeightsHonouredUnderLoad(t *testing.T) {
	b1, b2, g1 := relay(t, "b1"), relay(t, "b2"), relay(t, "g1")
	f := newFixture(t, []string{b1.URL, b2.URL}, []string{g1.URL}, [2]int{90, 10})
	f.waitHealthy(t)
	const n = 2000
	for _, tc := range []struct {
		name        string
		blue, green int
	}{
		{"canary 10%", 90, 10},
		{"half", 50, 50},
		{"ALB weights 1:3", 1, 3},
		{"all green", 0, 100},
		{"all blue", 999, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.lb.ModifyListener(f.prod.ARN(), forward(f.blue.ARN(), tc.blue, f.green.ARN(), tc.green)); err != nil {
				t.Fatal(err)
			}
			got := load(t, f.prod.URL(), n, 16)
			want := float64(tc.green) / float64(tc.blue+tc.green)
			share := float64(got["green"]) / n
			t.Logf("green share %.3f (want %.3f): %v", share, want, got)
			// Binomial sd at n=2000 is at most 1.2%; 4% is over 3 sd.
			if d := share - want; d > 0.04 || d < -0.04 {
				t.Fatalf("green share %.3f, want %.3f ± 0.04 (%v)", share, want, got)
			}
			if got["blue"]+got["green"] != n {
				t.Fatalf("some requests not served by a colour: %v", got)
			}
		})
	}
}

func TestInFlightRequestFinishesOnItsTargetAfterWeightChange(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		started <- struct{}{}
		<-release
		io.WriteString(w, "from blue")
	}))
	defer slow.Close()
	g := relay(t, "green")
	f := newFixture(t, []string{slow.URL}, []string{g.URL}, [2]int{1, 0})
	f.waitHealthy(t)

	type result struct {
		colour, body string
		err          error
	}
	done := make(chan result)
	go func() {
		resp, err := http.Get(f.prod.URL() + "/v1/chat/completions")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.Header.Get(DefaultColourHeader), string(b), err}
	}()
	<-started
	if err := f.lb.ModifyListener(f.prod.ARN(), forward(f.blue.ARN(), 0, f.green.ARN(), 1)); err != nil {
		t.Fatal(err)
	}
	// New requests go to green at once...
	if got := load(t, f.prod.URL(), 20, 4); got["green"] != 20 {
		t.Fatalf("after the shift: %v", got)
	}
	// ...while the one in flight finishes on blue.
	close(release)
	r := <-done
	if r.err != nil || r.colour != "blue" || r.body != "from blue" {
		t.Fatalf("in-flight request: colour %q body %q err %v", r.colour, r.body, r.err)
	}
}

func TestDeregisteredTargetDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	}))
	defer slow.Close()
	fast := relay(t, "fast")
	f := newFixture(t, []string{slow.URL, fast.URL}, []string{relay(t, "g").URL}, [2]int{1, 0})
	f.waitHealthy(t)

	done := make(chan string)
	go func() {
		for {
			resp, err := http.Get(f.prod.URL() + "/x")
			if err != nil {
				done <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "slow" {
				done <- "slow"
				return
			}
		}
	}()
	<-started
	if err := f.blue.DeregisterTargets(slow.URL); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		for _, h := range f.blue.Health() {
			if "http://"+net.JoinHostPort(h.ID, fmt.Sprint(h.Port)) == slow.URL {
				return h.State + " " + h.Reason
			}
		}
		return "gone"
	}
	if got := state(); got != StateDraining+" "+ReasonDeregistrationInProgress {
		t.Fatalf("deregistered target: %s", got)
	}
	// No new request reaches the draining target.
	for i := range 20 {
		resp, err := http.Get(f.prod.URL() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "fast" {
			t.Fatalf("request %d while draining answered by %q", i, b)
		}
	}
	close(release)
	if got := <-done; got != "slow" {
		t.Fatalf("in-flight request on the draining target: %s", got)
	}
	waitFor(t, "draining target removed", func() bool { return state() == "gone" })
}

func TestDrainingCutsRequestsAfterTheDelay(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	started := make(chan struct{}, 1)
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		started <- struct{}{}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	lb := New(Config{Seed: 1})
	defer lb.Close(context.Background())
	tg, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "blue", HealthCheck: fastHC, DeregistrationDelay: 50 * time.Millisecond})
	tg.RegisterTargets(stuck.URL)
	l, err := lb.AddListener(ListenerSpec{Key: "p", DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN()}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy", func() bool { return tg.Health()[0].State == StateHealthy })
	code := make(chan int)
	go func() {
		resp, err := http.Get(l.URL() + "/x")
		if err != nil {
			code <- -1
			return
		}
		resp.Body.Close()
		code <- resp.StatusCode
	}()
	<-started
	tg.DeregisterTargets(stuck.URL)
	if got := <-code; got != http.StatusBadGateway {
		t.Fatalf("request cut by the deregistration delay: status %d, want 502", got)
	}
	waitFor(t, "target removed", func() bool { return len(tg.Health()) == 0 })
}

func TestSSEPassesThroughUnbuffered(t *testing.T) {
	next := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"chunk\":%d}\n\n", i)
			fl.Flush()
			// The next chunk is written only once the client has read
			// this one through the proxy: a buffering proxy would hang.
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer sse.Close()
	f := newFixture(t, []string{sse.URL}, []string{relay(t, "g").URL}, [2]int{1, 0})
	f.waitHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.prod.URL()+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if c := resp.Header.Get(DefaultColourHeader); c != "blue" {
		t.Fatalf("colour header %q", c)
	}
	br := bufio.NewReader(resp.Body)
	var events []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %v: %v", events, err)
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		events = append(events, line)
		if line == "data: [DONE]" {
			break
		}
		next <- struct{}{}
	}
	want := []string{`data: {"chunk":0}`, `data: {"chunk":1}`, `data: {"chunk":2}`, "data: [DONE]"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func TestHealthStatesAndReasons(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer bad.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	good := relay(t, "good")

	lb := New(Config{Seed: 1})
	defer lb.Close(context.Background())
	tg, err := lb.AddTargetGroup(TargetGroupSpec{Name: "blue", HealthCheck: HealthCheck{Path: "/health", Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2}})
	if err != nil {
		t.Fatal(err)
	}
	tg.RegisterTargets(good.URL, bad.URL, slow.URL, deadURL)
	// Not used by any listener: every target is "unused".
	for _, h := range tg.Health() {
		if h.State != StateUnused || h.Reason != ReasonNotInUse {
			t.Fatalf("unused group: %+v", h)
		}
	}
	if _, err := lb.AddListener(ListenerSpec{Key: "p", DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN()}}}); err != nil {
		t.Fatal(err)
	}
	if h := tg.Health()[0]; h.State != StateInitial {
		t.Fatalf("new target: %+v", h)
	}
	byPort := func() map[string]TargetHealth {
		out := map[string]TargetHealth{}
		for _, h := range tg.Health() {
			out[fmt.Sprintf("http://%s:%d", h.ID, h.Port)] = h
		}
		return out
	}
	waitFor(t, "checks settled", func() bool {
		m := byPort()
		return m[good.URL].State == StateHealthy && m[bad.URL].State == StateUnhealthy &&
			m[slow.URL].State == StateUnhealthy && m[deadURL].State == StateUnhealthy
	})
	got := map[string]string{}
	for u, h := range byPort() {
		got[u] = h.State + " " + h.Reason
	}
	want := map[string]string{
		good.URL: "healthy ",
		bad.URL:  "unhealthy " + ReasonResponseCodeMismatch,
		slow.URL: "unhealthy " + ReasonTimeout,
		deadURL:  "unhealthy " + ReasonFailedHealthChecks,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("health (-want +got):\n%s", diff)
	}
	if d := byPort()[bad.URL].Description; d != "Health checks failed with these codes: [500]" {
		t.Errorf("description %q", d)
	}
}

func TestFailOpenAndELBErrors(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer down.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	f := newFixture(t, []string{down.URL}, []string{deadURL}, [2]int{1, 0})
	waitFor(t, "blue unhealthy", func() bool { return f.blue.Health()[0].State == StateUnhealthy })

	// All blue targets unhealthy: ALB fails open and still sends them
	// traffic; their 500s are target errors.
	if got := load(t, f.prod.URL(), 10, 2); got["blue"] != 10 || got["status 500"] != 10 {
		t.Fatalf("fail open: %v", got)
	}
	// Green's only target refuses connections: 502 from the load balancer,
	// a connection error on the green group.
	f.lb.ModifyListener(f.prod.ARN(), forward(f.blue.ARN(), 0, f.green.ARN(), 1))
	if got := load(t, f.prod.URL(), 5, 1); got["status 502"] != 5 {
		t.Fatalf("dead target: %v", got)
	}
	// A group with no targets: 503.
	empty, _ := f.lb.AddTargetGroup(TargetGroupSpec{Name: "empty", HealthCheck: fastHC})
	f.lb.ModifyListener(f.prod.ARN(), []Action{{Type: ActionForward, TargetGroupARN: empty.ARN()}})
	if got := load(t, f.prod.URL(), 3, 1); got["status 503"] != 3 {
		t.Fatalf("empty group: %v", got)
	}
	tgDims, lbDims := "{LoadBalancer,TargetGroup}", "{LoadBalancer}"
	for k, want := range map[string]float64{
		"HTTPCode_Target_5XX_Count" + tgDims:  10,
		"TargetConnectionErrorCount" + tgDims: 5,
		"HTTPCode_ELB_5XX_Count" + lbDims:     8,
		"HTTPCode_ELB_502_Count" + lbDims:     5,
		"HTTPCode_ELB_503_Count" + lbDims:     3,
		"RequestCount" + lbDims:               18,
		"RequestCount" + tgDims:               15,
	} {
		if got := f.metrics.sum(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if n := f.metrics.count("HTTPCode_ELB_5XX_Count" + tgDims); n != 0 {
		t.Errorf("ELB 5xx published with a TargetGroup dimension %d times", n)
	}
	if n := f.metrics.count("TargetResponseTime" + tgDims); n != 10 {
		t.Errorf("TargetResponseTime datapoints = %d, want 10 (only answered requests)", n)
	}
}

func TestRulesAndStickiness(t *testing.T) {
	b, g := relay(t, "b"), relay(t, "g")
	f := newFixture(t, []string{b.URL}, []string{g.URL}, [2]int{1, 1})
	f.waitHealthy(t)
	one := 1
	if _, err := f.lb.AddRule(f.prod.ARN(), RuleSpec{Key: "to-green", Priority: 10,
		Conditions: []Condition{{Field: "http-header", HTTPHeaderName: "X-Colour", HTTPHeaderValues: []string{"GREEN"}}},
		Actions:    []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: f.green.ARN(), Weight: &one}}}}}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, f.prod.URL()+"/", nil)
		req.Header.Set("x-colour", "green")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := resp.Header.Get(DefaultColourHeader); c != "green" {
			t.Fatalf("header rule routed to %q", c)
		}
	}
	// Group stickiness: the cookie pins the group while its weight is > 0.
	on, day := true, 86400
	acts := forward(f.blue.ARN(), 1, f.green.ARN(), 1)
	acts[0].Forward.Stickiness = &Stickiness{Enabled: &on, DurationSeconds: &day}
	if err := f.lb.ModifyListener(f.prod.ARN(), acts); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.prod.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := resp.Header.Get(DefaultColourHeader)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == stickinessCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no stickiness cookie")
	}
	for range 20 {
		req, _ := http.NewRequest(http.MethodGet, f.prod.URL()+"/", nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := resp.Header.Get(DefaultColourHeader); c != first {
			t.Fatalf("sticky request went to %q, first to %q", c, first)
		}
	}
}

func TestModifyListenerValidatesLikeELBv2(t *testing.T) {
	f := newFixture(t, nil, nil, [2]int{1, 0})
	before := f.prod.DefaultActions()
	on, zero, big := true, 0, 604801
	w := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		acts []Action
		code string
		msg  string
	}{
		{"weight 1000", forward(f.blue.ARN(), 1000, f.green.ARN(), 0), CodeValidation, "Member must have value less than or equal to 999"},
		{"negative weight", forward(f.blue.ARN(), -1, f.green.ARN(), 0), CodeValidation, "greater than or equal to 0"},
		{"missing weight with two groups", []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: f.blue.ARN()}, {ARN: f.green.ARN(), Weight: w(1)}}}}}, CodeValidation, "weight"},
		{"unknown group", forward(f.blue.ARN(), 1, f.blue.ARN()+"x", 1), CodeTargetGroupNotFound, ""},
		{"duplicate group", forward(f.blue.ARN(), 1, f.blue.ARN(), 1), CodeValidation, "more than once"},
		{"empty list", []Action{}, CodeValidation, "length greater than or equal to 1"},
		{"stickiness without duration", []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: f.blue.ARN(), Weight: w(1)}}, Stickiness: &Stickiness{Enabled: &on}}}}, CodeValidation, "duration"},
		{"stickiness too long", []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: f.blue.ARN(), Weight: w(1)}}, Stickiness: &Stickiness{Enabled: &on, DurationSeconds: &big}}}}, CodeValidation, "604800"},
		{"stickiness zero", []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: f.blue.ARN(), Weight: w(1)}}, Stickiness: &Stickiness{Enabled: &on, DurationSeconds: &zero}}}}, CodeValidation, "604800"},
		{"two terminal actions", append(forward(f.blue.ARN(), 1, f.green.ARN(), 0), Action{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: "503"}}), CodeInvalidAction, ""},
		{"six groups", []Action{{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: "a", Weight: w(1)}, {ARN: "b", Weight: w(1)}, {ARN: "c", Weight: w(1)}, {ARN: "d", Weight: w(1)}, {ARN: "e", Weight: w(1)}, {ARN: "f", Weight: w(1)}}}}}, CodeTooManyTargetGroups, ""},
		{"unknown type", []Action{{Type: "teleport"}}, CodeValidation, "enum value set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.lb.ModifyListener(f.prod.ARN(), tc.acts)
			e, ok := err.(*Error)
			if !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if err := f.lb.ModifyListener(f.prod.ARN()+"0", forward(f.blue.ARN(), 1, f.green.ARN(), 0)); err == nil || err.(*Error).Code != CodeListenerNotFound {
		t.Fatalf("unknown listener: %v", err)
	}
	if diff := cmp.Diff(before, f.prod.DefaultActions()); diff != "" {
		t.Fatalf("rejected modifications changed the listener:\n%s", diff)
	}
}

func TestDescribeShapes(t *testing.T) {
	f := newFixture(t, nil, nil, [2]int{1, 0})
	// One group by ARN only: Describe reports both forms, weight 1.
	if err := f.lb.ModifyListener(f.prod.ARN(), []Action{{Type: ActionForward, TargetGroupARN: f.blue.ARN()}}); err != nil {
		t.Fatal(err)
	}
	one, no := 1, false
	want := []Action{{Type: ActionForward, Order: 1, TargetGroupARN: f.blue.ARN(), Forward: &ForwardConfig{
		TargetGroups: []WeightedTargetGroup{{ARN: f.blue.ARN(), Weight: &one}}, Stickiness: &Stickiness{Enabled: &no}}}}
	if diff := cmp.Diff(want, f.prod.DefaultActions()); diff != "" {
		t.Fatalf("single group (-want +got):\n%s", diff)
	}
	// Two groups: only ForwardConfig.
	f.lb.ModifyListener(f.prod.ARN(), forward(f.blue.ARN(), 90, f.green.ARN(), 10))
	got := f.prod.DefaultActions()
	if got[0].TargetGroupARN != "" || len(got[0].Forward.TargetGroups) != 2 {
		t.Fatalf("two groups: %+v", got[0])
	}
	rules, _ := f.lb.Rules(f.prod.ARN())
	if len(rules) != 1 || !rules[0].IsDefault || rules[0].PriorityString() != "default" {
		t.Fatalf("rules: %+v", rules)
	}
	// ARNs are stable from one run to the next.
	again := New(Config{Name: "relay"})
	defer again.Close(context.Background())
	tg, _ := again.AddTargetGroup(TargetGroupSpec{Name: "relay-blue"})
	if tg.ARN() != f.blue.ARN() {
		t.Fatalf("target group ARN not stable: %s vs %s", tg.ARN(), f.blue.ARN())
	}
}

// NOTE: "After your target is registered, it must pass one health check to
// be considered healthy" (ALB user guide, Health checks for Application
// Load Balancer target groups); HealthyThresholdCount applies when an
// unhealthy target comes back.
func TestRegisteredTargetHealthyAfterOnePassingCheck(t *testing.T) {
	var mu sync.Mutex
	failing := false
	var seen []string // the target's state when each passing check arrives
	var tg *TargetGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := failing
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if h := tg.Health(); len(h) == 1 {
			mu.Lock()
			seen = append(seen, h[0].State)
			mu.Unlock()
		}
	}))
	defer srv.Close()

	lb := New(Config{Seed: 1})
	defer lb.Close(context.Background())
	var err error
	// An hour between rounds: only registration and the listener wake
	// the checks, so the target gets one or two.
	tg, err = lb.AddTargetGroup(TargetGroupSpec{Name: "blue", HealthCheck: HealthCheck{Path: "/health", Interval: time.Hour, Timeout: time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lb.AddListener(ListenerSpec{Key: "p", DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN()}}}); err != nil {
		t.Fatal(err)
	}
	if err := tg.RegisterTargets(srv.URL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new target healthy after one passing check", func() bool { return tg.Health()[0].State == StateHealthy })
	mu.Lock()
	if len(seen) == 0 || seen[0] != StateInitial {
		t.Fatalf("states at the passing checks: %v, want the first one seen in initial", seen)
	}
	mu.Unlock()

	// Unhealthy, then passing again: back only after HealthyThreshold
	// (5) consecutive passing checks. Each wake runs one round.
	poke := func() {
		select {
		case tg.wake <- struct{}{}:
		default:
		}
	}
	mu.Lock()
	failing, seen = true, nil
	mu.Unlock()
	waitFor(t, "the target unhealthy", func() bool { poke(); return tg.Health()[0].State == StateUnhealthy })
	mu.Lock()
	failing = false
	mu.Unlock()
	waitFor(t, "the target healthy again", func() bool { poke(); return tg.Health()[0].State == StateHealthy })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 5 || !slices.Equal(seen[:5], []string{StateUnhealthy, StateUnhealthy, StateUnhealthy, StateUnhealthy, StateUnhealthy}) {
		t.Fatalf("states at the passing checks after the failure: %v, want the first 5 seen in unhealthy", seen)
	}
}

// Fail-open is for a group of only unhealthy targets; targets still in
// initial get no traffic.
func TestPickFailsOpenOnlyToUnhealthyTargets(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	// Health checks time out (the target stays in initial for 5 failures);
	// requests are answered.
	slowHealth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, "initial")
	}))
	defer slowHealth.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "unhealthy")
	}))
	defer down.Close()

	lb := New(Config{Seed: 1})
	defer lb.Close(context.Background())
	hc := HealthCheck{Path: "/health", Interval: time.Hour, Timeout: 20 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 1}
	slowHC := hc
	slowHC.UnhealthyThreshold = 5
	initialOnly, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "initial", Colour: "blue", HealthCheck: slowHC})
	unhealthyOnly, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "unhealthy", Colour: "green", HealthCheck: hc})
	mixed, _ := lb.AddTargetGroup(TargetGroupSpec{Name: "mixed", Colour: "blue", HealthCheck: slowHC})
	l, err := lb.AddListener(ListenerSpec{Key: "p", DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: initialOnly.ARN()}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []*TargetGroup{initialOnly, unhealthyOnly, mixed} {
		if _, err := lb.AddRule(l.ARN(), RuleSpec{Key: tg.Name(), Priority: map[string]int{"initial": 1, "unhealthy": 2, "mixed": 3}[tg.Name()],
			Conditions: []Condition{{Field: "path-pattern", Values: []string{"/" + tg.Name()}}},
			Actions:    []Action{{Type: ActionForward, TargetGroupARN: tg.ARN()}}}); err != nil {
			t.Fatal(err)
		}
	}
	initialOnly.RegisterTargets(slowHealth.URL)
	unhealthyOnly.RegisterTargets(down.URL)
	mixed.RegisterTargets(slowHealth.URL)
	// The mixed group's second target fails with its own threshold of 5
	// too; make it unhealthy by hand after its checks ran.
	mixed.RegisterTargets(down.URL)
	waitFor(t, "the unhealthy group's target unhealthy", func() bool { return unhealthyOnly.Health()[0].State == StateUnhealthy })
	mixed.mu.Lock()
	for _, tt := range mixed.targets {
		if tt.url.String() == down.URL {
			tt.mu.Lock()
			tt.state = StateUnhealthy
			tt.mu.Unlock()
		}
	}
	mixed.mu.Unlock()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(l.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if h := initialOnly.Health()[0]; h.State != StateInitial {
		t.Fatalf("the slow target left initial: %+v", h)
	}
	if code, _ := get("/initial"); code != http.StatusServiceUnavailable {
		t.Errorf("a group with only initial targets answered %d, want 503", code)
	}
	if code, body := get("/unhealthy"); code != http.StatusOK || body != "unhealthy" {
		t.Errorf("a group with only unhealthy targets: %d %q, want fail-open to them", code, body)
	}
	for range 4 {
		if code, _ := get("/mixed"); code != http.StatusServiceUnavailable {
			t.Errorf("a group with initial and unhealthy targets answered %d, want 503 (no fail-open)", code)
		}
	}
}
