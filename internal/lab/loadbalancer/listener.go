package loadbalancer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener is one listener of the load balancer: an HTTP server on a
// loopback port running the reverse proxy.
type Listener struct {
	lb             *LoadBalancer
	key            string
	arn            string
	port           int
	ln             net.Listener
	srv            *http.Server
	defaultRuleARN string
	routes         atomic.Pointer[routing]
}

// ARN returns the listener's ARN.
func (l *Listener) ARN() string { return l.arn }

// Port returns the port it listens on.
func (l *Listener) Port() int { return l.port }

// LoadBalancerARN returns its load balancer's ARN.
func (l *Listener) LoadBalancerARN() string { return l.lb.arn }

// DefaultActions returns the default actions as DescribeListeners reports
// them.
func (l *Listener) DefaultActions() []Action { return describeActions(l.routes.Load().defaults) }

func (l *Listener) ruleARN(key string) string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener-rule/app/%s/%s/%s/%s",
		l.lb.cfg.Region, l.lb.cfg.AccountID, l.lb.cfg.Name, shortID(l.lb.cfg.Name, "loadbalancer"),
		lastSegment(l.arn, 1), shortID(l.lb.cfg.Name, "rule", l.key, key))
}

func (l *Listener) describeRules() []Rule {
	rt := l.routes.Load()
	out := make([]Rule, 0, len(rt.rules)+1)
	for _, r := range rt.rules {
		r.Conditions = describeConditions(r.Conditions)
		r.Actions = describeActions(r.Actions)
		out = append(out, r)
	}
	return append(out, Rule{ARN: l.defaultRuleARN, IsDefault: true, Conditions: []Condition{}, Actions: describeActions(rt.defaults)})
}

// routing is an immutable snapshot of a listener's rules and default
// actions; it is replaced as a whole, atomically.
type routing struct {
	defaults []Action
	rules    []Rule // by priority
}

func (r *routing) clone() *routing {
	n := &routing{defaults: cloneActions(r.defaults), rules: make([]Rule, len(r.rules))}
	for i, rule := range r.rules {
		rule.Conditions = cloneConditions(rule.Conditions)
		rule.Actions = cloneActions(rule.Actions)
		n.rules[i] = rule
	}
	return n
}

type requestFacts struct {
	path, host, method, sourceIP string
	header                       http.Header
	query                        url.Values
}

// match returns the actions of the first rule whose conditions all hold,
// or the default actions.
func (r *routing) match(f requestFacts) []Action {
	for _, rule := range r.rules {
		ok := true
		for _, c := range rule.Conditions {
			if !c.matches(f) {
				ok = false
				break
			}
		}
		if ok {
			return rule.Actions
		}
	}
	return r.defaults
}

// terminal returns the action a request ends with: the forward, redirect
// or fixed-response action (validation guarantees exactly one).
func terminal(acts []Action) Action {
	for _, a := range acts {
		if a.Type == ActionForward || a.Type == ActionRedirect || a.Type == ActionFixedResponse {
			return a
		}
	}
	return Action{}
}

// Weights returns the target groups and weights of the forward action a
// listener's default actions end with (nil if it does not forward).
func (l *Listener) Weights() map[string]int {
	a := terminal(l.routes.Load().defaults)
	if a.Type != ActionForward {
		return nil
	}
	return forwardWeights(a)
}

func forwardWeights(a Action) map[string]int {
	out := map[string]int{}
	if a.Forward == nil {
		out[a.TargetGroupARN] = 1
		return out
	}
	for _, tg := range a.Forward.TargetGroups {
		w := 1
		if tg.Weight != nil {
			w = *tg.Weight
		}
		out[tg.ARN] = w
	}
	return out
}

const stickinessCookie = "AWSALBTG"

// ServeHTTP routes one request.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb := l.lb
	start := lb.cfg.Now()
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	facts := requestFacts{path: r.URL.Path, host: r.Host, method: r.Method, sourceIP: host, header: r.Header, query: r.URL.Query()}
	act := terminal(l.routes.Load().match(facts))
	switch act.Type {
	case ActionFixedResponse:
		code, _ := strconv.Atoi(act.FixedResponse.StatusCode)
		if act.FixedResponse.ContentType != "" {
			w.Header().Set("Content-Type", act.FixedResponse.ContentType)
		}
		w.WriteHeader(code)
		io.WriteString(w, act.FixedResponse.MessageBody)
		lb.publishELB(start, code)
		return
	case ActionRedirect:
		code := http.StatusMovedPermanently
		if act.Redirect.StatusCode == "HTTP_302" {
			code = http.StatusFound
		}
		http.Redirect(w, r, redirectURL(r, act.Redirect), code)
		lb.publishELB(start, code)
		return
	case ActionForward:
	default:
		lb.elbError(w, start, nil, http.StatusServiceUnavailable)
		return
	}
	tg, sticky := lb.pickGroup(act, r)
	if tg == nil {
		// NOTE: a forward action whose groups all weigh 0 has nowhere to
		// send the request; the lab answers 503 as for an empty group (⚠
		// AWS does not document this case).
		lb.elbError(w, start, nil, http.StatusServiceUnavailable)
		return
	}
	t := tg.pick()
	if t == nil {
		// NOTE: ALB answers 503 when the target group has no registered
		// targets (ALB troubleshooting: HTTP 503); the lab does the same
		// when its targets are all still in initial (⚠ not documented).
		lb.elbError(w, start, tg, http.StatusServiceUnavailable)
		return
	}
	t.inflight.Add(1)
	defer t.inflight.Add(-1)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(t.drainCtx, cancel)
	defer stop()
	fc := &forwardCtx{lb: lb, tg: tg, t: t, start: start, sticky: sticky}
	// NOTE: by default a Go HTTP/1 server closes the request body when the
	// handler writes its response headers, while the proxy's transport may
	// still read it (at least once more after its Content-Length, to check
	// it is not longer): that read fails, the transport tears the upstream
	// connection down, and a streamed answer is cut after its first events
	// (golang/go#40747). Full duplex keeps the body open; the error only
	// means the connection cannot do it (HTTP/2), which needs nothing.
	_ = http.NewResponseController(w).EnableFullDuplex()
	r = r.WithContext(context.WithValue(ctx, forwardKey{}, fc))
	lb.proxy.ServeHTTP(w, r)
}

func redirectURL(r *http.Request, rd *Redirect) string {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	if rd.Protocol != "" && rd.Protocol != "#{protocol}" {
		u.Scheme = strings.ToLower(rd.Protocol)
	}
	if rd.Host != "" && rd.Host != "#{host}" {
		u.Host = rd.Host
	}
	if rd.Port != "" && rd.Port != "#{port}" {
		h, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			h = u.Host
		}
		u.Host = net.JoinHostPort(h, rd.Port)
	}
	if rd.Path != "" && rd.Path != "/#{path}" {
		u.Path = strings.ReplaceAll(rd.Path, "#{path}", strings.TrimPrefix(r.URL.Path, "/"))
	}
	if rd.Query != "" && rd.Query != "#{query}" {
		u.RawQuery = strings.ReplaceAll(rd.Query, "#{query}", r.URL.RawQuery)
	}
	return u.String()
}

// pickGroup chooses the target group of a forward action: the sticky one
// when group stickiness is on and the request's cookie names a group of the
// action with a positive weight, otherwise by weight.
func (lb *LoadBalancer) pickGroup(a Action, r *http.Request) (*TargetGroup, *Stickiness) {
	weights := forwardWeights(a)
	var st *Stickiness
	if a.Forward != nil && a.Forward.Stickiness != nil && a.Forward.Stickiness.Enabled != nil && *a.Forward.Stickiness.Enabled {
		st = a.Forward.Stickiness
		if c, err := r.Cookie(stickinessCookie); err == nil {
			if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
				if w, ok := weights[string(b)]; ok && w > 0 {
					if tg, err := lb.TargetGroup(string(b)); err == nil {
						return tg, st
					}
				}
			}
		}
	}
	total := 0
	arns := make([]string, 0, len(weights))
	for arn, w := range weights {
		if w > 0 {
			total += w
			arns = append(arns, arn)
		}
	}
	if total == 0 {
		return nil, nil
	}
	slices.Sort(arns)
	lb.randMu.Lock()
	n := lb.rand.IntN(total)
	lb.randMu.Unlock()
	for _, arn := range arns {
		if n < weights[arn] {
			tg, err := lb.TargetGroup(arn)
			if err != nil {
				return nil, nil
			}
			return tg, st
		}
		n -= weights[arn]
	}
	return nil, nil
}

// forwardCtx travels with a forwarded request through the reverse proxy.
type forwardCtx struct {
	lb       *LoadBalancer
	tg       *TargetGroup
	t        *target
	start    time.Time
	sticky   *Stickiness
	sent     time.Time
	received time.Time
	once     sync.Once
}

type forwardKey struct{}

func forwardOf(r *http.Request) *forwardCtx {
	fc, _ := r.Context().Value(forwardKey{}).(*forwardCtx)
	return fc
}

// timedTransport records when a request left for the target and when its
// response headers came back: TargetResponseTime.
type timedTransport struct{ base *http.Transport }

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	fc := forwardOf(r)
	if fc != nil {
		fc.sent = fc.lb.cfg.Now()
	}
	resp, err := t.base.RoundTrip(r)
	if fc != nil {
		fc.received = fc.lb.cfg.Now()
	}
	return resp, err
}

func (lb *LoadBalancer) newProxy() *httputil.ReverseProxy {
	p := lb.cfg.Proxy
	base := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: p.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          p.MaxIdleConnsPerHost * 8,
		MaxIdleConnsPerHost:   p.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: p.ResponseHeaderTimeout,
		DisableCompression:    true,
	}
	return &httputil.ReverseProxy{
		Transport:     &timedTransport{base: base},
		FlushInterval: p.FlushInterval,
		Rewrite: func(pr *httputil.ProxyRequest) {
			fc := forwardOf(pr.In)
			pr.SetURL(fc.t.url)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Port", strconv.Itoa(portOf(pr.In)))
			if pr.In.Header.Get("X-Amzn-Trace-Id") == "" {
				pr.Out.Header.Set("X-Amzn-Trace-Id", traceID(fc.start))
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			fc := forwardOf(resp.Request)
			resp.Header.Set(lb.cfg.ColourHeader, fc.tg.colour)
			if fc.sticky != nil && fc.sticky.DurationSeconds != nil {
				c := &http.Cookie{Name: stickinessCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(fc.tg.arn)),
					Path: "/", MaxAge: *fc.sticky.DurationSeconds, Expires: fc.start.Add(time.Duration(*fc.sticky.DurationSeconds) * time.Second)}
				resp.Header.Add("Set-Cookie", c.String())
			}
			fc.once.Do(func() { lb.publishTarget(fc, resp.StatusCode) })
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			fc := forwardOf(r)
			code, connErr := classifyProxyError(r, err)
			fc.once.Do(func() {
				if code == 0 {
					// The client went away before the target answered (ALB
					// logs 460): counted as a request, not as an error.
					lb.publish(fc.start, []Datum{
						{Name: "RequestCount", Dimensions: lb.lbDims(), Value: 1},
						{Name: "RequestCount", Dimensions: fc.tg.dims(), Value: 1},
					})
					return
				}
				lb.publishProxyError(fc, code, connErr)
			})
			if code == 0 {
				return
			}
			w.Header().Set(lb.cfg.ColourHeader, fc.tg.colour)
			writeELBError(w, code)
		},
		ErrorLog: slog.NewLogLogger(lb.cfg.Log.Handler(), slog.LevelDebug),
	}
}

func portOf(r *http.Request) int {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := a.(*net.TCPAddr); ok {
			return ta.Port
		}
	}
	return 80
}

// traceID returns an X-Amzn-Trace-Id root like ALB adds:
// Root=1-<epoch seconds hex>-<96 random bits hex>.
func traceID(t time.Time) string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", t.Unix(), hex.EncodeToString(b[:]))
}

// classifyProxyError maps a reverse-proxy failure to the status ALB
// answers: 504 when the target did not answer in time, 502 when the
// connection failed or broke; 0 when the client itself went away. connErr
// reports a failure to connect (TargetConnectionErrorCount).
func classifyProxyError(r *http.Request, err error) (code int, connErr bool) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		if fc := forwardOf(r); fc != nil && fc.t.drainCtx.Err() != nil {
			return http.StatusBadGateway, false // cut by the end of draining
		}
		return 0, false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		if opErr.Timeout() {
			return http.StatusGatewayTimeout, true
		}
		return http.StatusBadGateway, true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return http.StatusBadGateway, true
	}
	// NOTE: net/http's "timeout awaiting response headers" error is a
	// net.Error whose Timeout() is true (net/http transport.go).
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, false
	}
	return http.StatusBadGateway, false
}

// writeELBError writes an error page generated by the load balancer, as
// ALB does (text/html, "<status> <text>" in the title).
func writeELBError(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n",
		code, http.StatusText(code), code, http.StatusText(code))
}

// elbError answers a request the load balancer could not forward.
func (lb *LoadBalancer) elbError(w http.ResponseWriter, start time.Time, tg *TargetGroup, code int) {
	if tg != nil {
		w.Header().Set(lb.cfg.ColourHeader, tg.colour)
	}
	writeELBError(w, code)
	lb.publishELB(start, code)
}

func (lb *LoadBalancer) lbDims() []Dimension {
	return []Dimension{{Name: "LoadBalancer", Value: lb.dim}}
}

// publishELB publishes a response the load balancer generated itself.
// NOTE: HTTPCode_ELB_* metrics have only the LoadBalancer dimension
// (AWS-FACTS.md, ALB CloudWatch metrics).
func (lb *LoadBalancer) publishELB(at time.Time, code int) {
	d := []Datum{{Name: "RequestCount", Dimensions: lb.lbDims(), Value: 1}}
	if class := code / 100; class >= 3 {
		d = append(d, Datum{Name: fmt.Sprintf("HTTPCode_ELB_%dXX_Count", class), Dimensions: lb.lbDims(), Value: 1})
	}
	if code == 500 || code == 502 || code == 503 || code == 504 {
		d = append(d, Datum{Name: fmt.Sprintf("HTTPCode_ELB_%d_Count", code), Dimensions: lb.lbDims(), Value: 1})
	}
	lb.publish(at, d)
}

// publishTarget publishes a request a target answered.
// NOTE: TargetResponseTime is "the time elapsed, in seconds, after the
// request leaves the load balancer until the target starts to send the
// response headers" (ALB CloudWatch metrics), i.e. our RoundTrip time.
func (lb *LoadBalancer) publishTarget(fc *forwardCtx, code int) {
	trt := fc.received.Sub(fc.sent).Seconds()
	at := fc.start
	d := make([]Datum, 0, 6)
	for _, dims := range [][]Dimension{lb.lbDims(), fc.tg.dims()} {
		d = append(d,
			Datum{Name: "RequestCount", Dimensions: dims, Value: 1},
			Datum{Name: fmt.Sprintf("HTTPCode_Target_%dXX_Count", code/100), Dimensions: dims, Value: 1},
			Datum{Name: "TargetResponseTime", Dimensions: dims, Value: trt},
		)
	}
	lb.publish(at, d)
}

// publishProxyError publishes a forwarded request that failed in the load
// balancer (502/504).
func (lb *LoadBalancer) publishProxyError(fc *forwardCtx, code int, connErr bool) {
	at := fc.start
	d := []Datum{
		{Name: "RequestCount", Dimensions: lb.lbDims(), Value: 1},
		{Name: "RequestCount", Dimensions: fc.tg.dims(), Value: 1},
		{Name: fmt.Sprintf("HTTPCode_ELB_%dXX_Count", code/100), Dimensions: lb.lbDims(), Value: 1},
		{Name: fmt.Sprintf("HTTPCode_ELB_%d_Count", code), Dimensions: lb.lbDims(), Value: 1},
	}
	if connErr {
		d = append(d,
			Datum{Name: "TargetConnectionErrorCount", Dimensions: lb.lbDims(), Value: 1},
			Datum{Name: "TargetConnectionErrorCount", Dimensions: fc.tg.dims(), Value: 1},
		)
	}
	lb.publish(at, d)
}
