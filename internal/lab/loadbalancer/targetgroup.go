package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Target health states and reason codes (ELBv2 TargetHealthStateEnum and
// TargetHealthReasonEnum).
const (
	StateInitial           = "initial"
	StateHealthy           = "healthy"
	StateUnhealthy         = "unhealthy"
	StateUnhealthyDraining = "unhealthy.draining"
	StateDraining          = "draining"
	StateUnused            = "unused"
	StateUnavailable       = "unavailable"

	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
)

// TargetGroup is a set of targets with health checks.
type TargetGroup struct {
	lb     *LoadBalancer
	arn    string
	name   string
	colour string
	dim    string
	hc     HealthCheck
	match  func(int) bool
	dereg  time.Duration
	wake   chan struct{}

	mu      sync.Mutex
	targets []*target
	rr      atomic.Uint64
}

// ARN returns the target group's ARN.
func (tg *TargetGroup) ARN() string { return tg.arn }

// Name returns its name.
func (tg *TargetGroup) Name() string { return tg.name }

// Colour returns the colour the response header reports for it.
func (tg *TargetGroup) Colour() string { return tg.colour }

// Dimension returns its CloudWatch TargetGroup dimension,
// "targetgroup/<name>/<id>".
func (tg *TargetGroup) Dimension() string { return tg.dim }

// HealthCheck returns its health-check settings (defaults filled in).
func (tg *TargetGroup) HealthCheck() HealthCheck { return tg.hc }

// target is one registered target.
type target struct {
	id   string // host
	port int
	url  *url.URL

	inflight atomic.Int64

	mu        sync.Mutex
	state     string
	reason    string
	desc      string
	okRun     int
	failRun   int
	draining  bool
	drainCtx  context.Context
	drainStop context.CancelFunc
}

func (t *target) key() string { return net.JoinHostPort(t.id, strconv.Itoa(t.port)) }

// TargetHealth is one target's entry in DescribeTargetHealth.
type TargetHealth struct {
	ID          string
	Port        int
	State       string
	Reason      string
	Description string
	// InFlight is the number of requests the target is serving.
	InFlight int
}

// RegisterTargets adds targets (http://host:port URLs); registering a
// target already registered (or draining) is a no-op that keeps it.
func (tg *TargetGroup) RegisterTargets(urls ...string) error {
	var add []*target
	for _, raw := range urls {
		u, host, port, err := parseTargetURL(raw)
		if err != nil {
			return &Error{Code: CodeInvalidTarget, Message: err.Error()}
		}
		add = append(add, &target{id: host, port: port, url: u})
	}
	tg.mu.Lock()
	for _, t := range add {
		if i := slices.IndexFunc(tg.targets, func(x *target) bool { return x.key() == t.key() }); i >= 0 {
			old := tg.targets[i]
			old.mu.Lock()
			if old.draining {
				// NOTE: re-registering a draining target cancels the
				// deregistration; it goes back through initial checks.
				old.draining = false
				old.drainStop()
				old.state, old.reason, old.desc = StateInitial, ReasonRegistrationInProgress, "Target registration is in progress"
				old.okRun, old.failRun = 0, 0
			}
			old.mu.Unlock()
			continue
		}
		t.state, t.reason, t.desc = StateInitial, ReasonRegistrationInProgress, "Target registration is in progress"
		t.drainCtx, t.drainStop = context.WithCancel(context.Background())
		if tg.hc.Disabled {
			t.state, t.reason, t.desc = StateUnavailable, ReasonHealthCheckDisabled, "Health checks are disabled for the target group"
		}
		tg.targets = append(tg.targets, t)
	}
	tg.mu.Unlock()
	tg.lb.cfg.Log.Info("targets registered", "target_group", tg.name, "targets", urls)
	select {
	case tg.wake <- struct{}{}:
	default:
	}
	return nil
}

// DeregisterTargets starts draining targets: they get no new requests, and
// the ones in flight may finish for the deregistration delay, after which
// they are cancelled and the target is removed.
func (tg *TargetGroup) DeregisterTargets(urls ...string) error {
	var keys []string
	for _, raw := range urls {
		_, host, port, err := parseTargetURL(raw)
		if err != nil {
			return &Error{Code: CodeInvalidTarget, Message: err.Error()}
		}
		keys = append(keys, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	for _, k := range keys {
		if !slices.ContainsFunc(tg.targets, func(t *target) bool { return t.key() == k }) {
			return &Error{Code: CodeInvalidTarget, Message: fmt.Sprintf("The following targets are not registered: '%s'", k)}
		}
	}
	for _, t := range tg.targets {
		if !slices.Contains(keys, t.key()) {
			continue
		}
		t.mu.Lock()
		if !t.draining {
			t.draining = true
			if t.state == StateUnhealthy {
				t.state = StateUnhealthyDraining
			} else {
				t.state = StateDraining
			}
			t.reason, t.desc = ReasonDeregistrationInProgress, "Target deregistration is in progress"
			tg.lb.wg.Add(1)
			go func(t *target) { defer tg.lb.wg.Done(); tg.drain(t) }(t)
		}
		t.mu.Unlock()
	}
	tg.lb.cfg.Log.Info("targets deregistering", "target_group", tg.name, "targets", urls, "delay", tg.dereg.String())
	return nil
}

// drain waits for a draining target's requests to finish, or for the
// deregistration delay, then cuts what is left and removes the target.
func (tg *TargetGroup) drain(t *target) {
	deadline := time.NewTimer(tg.dereg)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		stillDraining := t.draining
		t.mu.Unlock()
		if !stillDraining {
			return // re-registered
		}
		if t.inflight.Load() == 0 {
			break
		}
		select {
		case <-deadline.C:
			tg.lb.cfg.Log.Warn("deregistration delay passed; cutting in-flight requests", "target_group", tg.name, "target", t.key(), "in_flight", t.inflight.Load())
			t.drainStop()
		case <-tick.C:
			continue
		case <-tg.lb.ctx.Done():
			t.drainStop()
			return
		}
		if t.inflight.Load() == 0 {
			break
		}
	}
	tg.mu.Lock()
	t.mu.Lock()
	if t.draining {
		tg.targets = slices.DeleteFunc(tg.targets, func(x *target) bool { return x == t })
		t.drainStop()
	}
	t.mu.Unlock()
	tg.mu.Unlock()
	tg.lb.cfg.Log.Info("target deregistered", "target_group", tg.name, "target", t.key())
}

// Health returns the health of every registered target, in registration
// order, as DescribeTargetHealth reports it.
func (tg *TargetGroup) Health() []TargetHealth {
	used := tg.lb.inUse(tg.arn)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := make([]TargetHealth, 0, len(tg.targets))
	for _, t := range tg.targets {
		t.mu.Lock()
		h := TargetHealth{ID: t.id, Port: t.port, State: t.state, Reason: t.reason, Description: t.desc, InFlight: int(t.inflight.Load())}
		t.mu.Unlock()
		if !used && !t.draining {
			h.State, h.Reason, h.Description = StateUnused, ReasonNotInUse, "Target group is not configured to receive traffic from the load balancer"
		}
		if h.State == StateHealthy {
			h.Reason, h.Description = "", ""
		}
		out = append(out, h)
	}
	return out
}

// pick chooses a target round robin among the healthy ones. When every
// registered target that is not draining is unhealthy it fails open to
// them, as ALB does; targets still in initial get no traffic. It returns
// nil when there is no target to route to.
func (tg *TargetGroup) pick() *target {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	var healthy, unhealthy []*target
	initial := 0
	for _, t := range tg.targets {
		t.mu.Lock()
		st, dr := t.state, t.draining
		t.mu.Unlock()
		switch {
		case dr:
		case st == StateHealthy || st == StateUnavailable:
			healthy = append(healthy, t)
		case st == StateUnhealthy:
			unhealthy = append(unhealthy, t)
		default:
			initial++
		}
	}
	// NOTE: "If a target group contains only unhealthy registered targets,
	// the load balancer routes requests to all those targets, regardless
	// of their health status" (ALB user guide, Health checks for
	// Application Load Balancer target groups). Fail-open is documented
	// for that case only: a group whose targets are still in initial (or
	// initial and unhealthy) has no target to route to, and answers 503.
	pool := healthy
	if len(pool) == 0 && initial == 0 {
		pool = unhealthy
	}
	if len(pool) == 0 {
		return nil
	}
	return pool[tg.rr.Add(1)%uint64(len(pool))]
}

// healthLoop checks every target each interval until ctx ends, and
// publishes HealthyHostCount and UnHealthyHostCount after every round.
func (tg *TargetGroup) healthLoop(ctx context.Context) {
	tick := time.NewTicker(tg.hc.Interval)
	defer tick.Stop()
	for {
		tg.checkRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-tg.wake:
		}
	}
}

func (tg *TargetGroup) checkRound(ctx context.Context) {
	tg.mu.Lock()
	ts := slices.Clone(tg.targets)
	tg.mu.Unlock()
	if !tg.hc.Disabled {
		var wg sync.WaitGroup
		for _, t := range ts {
			t.mu.Lock()
			skip := t.draining
			t.mu.Unlock()
			if skip {
				continue
			}
			wg.Go(func() { tg.check(ctx, t) })
		}
		wg.Wait()
	}
	if ctx.Err() != nil {
		return
	}
	if !tg.lb.inUse(tg.arn) {
		return // NOTE: ALB publishes host counts only for groups it routes to.
	}
	healthy, unhealthy := 0, 0
	for _, h := range tg.Health() {
		switch h.State {
		case StateHealthy:
			healthy++
		case StateUnhealthy:
			unhealthy++
		}
	}
	tg.lb.publish(tg.lb.cfg.Now(), []Datum{
		{Name: "HealthyHostCount", Dimensions: tg.dims(), Value: float64(healthy)},
		{Name: "UnHealthyHostCount", Dimensions: tg.dims(), Value: float64(unhealthy)},
	})
}

// check runs one health check against t and applies the thresholds.
func (tg *TargetGroup) check(ctx context.Context, t *target) {
	ctx, cancel := context.WithTimeout(ctx, tg.hc.Timeout)
	defer cancel()
	u := *t.url
	u.Path += tg.hc.Path
	ok, reason, desc := false, "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err == nil {
		req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
		var resp *http.Response
		resp, err = tg.lb.hcCli.Do(req)
		if err == nil {
			resp.Body.Close()
			if tg.match(resp.StatusCode) {
				ok = true
			} else {
				reason, desc = ReasonResponseCodeMismatch, fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode)
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil && tg.lb.ctx.Err() != nil {
			return // shutting down
		}
		reason, desc = ReasonFailedHealthChecks, "Health checks failed"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			reason, desc = ReasonTimeout, "Request timed out"
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			desc = "Health checks failed: connection refused"
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return
	}
	before := t.state
	if ok {
		t.okRun, t.failRun = t.okRun+1, 0
	} else {
		t.okRun, t.failRun = 0, t.failRun+1
	}
	// NOTE: "After your target is registered, it must pass one health
	// check to be considered healthy" (ALB user guide, Health checks for
	// Application Load Balancer target groups): HealthyThresholdCount
	// applies to an unhealthy target coming back.
	switch {
	case ok && t.state == StateInitial:
		t.state, t.reason, t.desc = StateHealthy, "", ""
	case ok && t.state != StateHealthy && t.okRun >= tg.hc.HealthyThreshold:
		t.state, t.reason, t.desc = StateHealthy, "", ""
	case !ok && t.state != StateUnhealthy && t.failRun >= tg.hc.UnhealthyThreshold:
		t.state, t.reason, t.desc = StateUnhealthy, reason, desc
	case !ok && t.state == StateUnhealthy:
		t.reason, t.desc = reason, desc
	case t.state == StateInitial:
		t.reason, t.desc = ReasonInitialHealthChecking, "Initial health checks in progress"
	}
	if t.state != before {
		tg.lb.cfg.Log.Info("target health changed", "target_group", tg.name, "target", t.key(), "from", before, "to", t.state, "reason", t.reason)
	}
}

func (tg *TargetGroup) dims() []Dimension {
	return []Dimension{{Name: "LoadBalancer", Value: tg.lb.dim}, {Name: "TargetGroup", Value: tg.dim}}
}

func (lb *LoadBalancer) publish(at time.Time, data []Datum) {
	if lb.cfg.Metrics != nil && len(data) > 0 {
		lb.cfg.Metrics.Publish(Namespace, at, data)
	}
}
