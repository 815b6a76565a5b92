package loadbalancer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dimension is a CloudWatch metric dimension.
type Dimension struct{ Name, Value string }

// Datum is one CloudWatch datapoint the load balancer publishes (the
// lab's CloudWatch keeps no units: each metric has one, AWS's).
type Datum struct {
	Name       string
	Dimensions []Dimension
	Value      float64
}

// MetricSink receives the AWS/ApplicationELB datapoints. Publish must be
// safe for concurrent use and must not block for long: it runs on the
// request path.
type MetricSink interface {
	Publish(namespace string, at time.Time, data []Datum)
}

// Namespace is the CloudWatch namespace of the metrics.
const Namespace = "AWS/ApplicationELB"

// DefaultColourHeader is the response header naming the colour of the
// target group that took a request.
const DefaultColourHeader = "X-Relayshift-Colour"

// ProxyTuning tunes the reverse proxy. Zero fields take the defaults noted.
type ProxyTuning struct {
	// DialTimeout bounds connecting to a target (default 10 s, ALB's
	// target connection timeout).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for a target's response headers;
	// when it passes the client gets 504 (default 60 s, ALB's default idle
	// timeout).
	ResponseHeaderTimeout time.Duration
	// FlushInterval is httputil.ReverseProxy's; the default -1 flushes
	// after every write, so SSE streams pass through unbuffered.
	FlushInterval time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool per target (default 64).
	MaxIdleConnsPerHost int
	// ReadHeaderTimeout bounds reading a client's request headers (default
	// 10 s).
	ReadHeaderTimeout time.Duration
	// ShutdownGrace is how long Close lets in-flight requests finish before
	// cutting them (default 5 s).
	ShutdownGrace time.Duration
}

func (p ProxyTuning) withDefaults() ProxyTuning {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.DialTimeout, 10*time.Second)
	def(&p.ResponseHeaderTimeout, 60*time.Second)
	def(&p.FlushInterval, -1)
	def(&p.ReadHeaderTimeout, 10*time.Second)
	def(&p.ShutdownGrace, 5*time.Second)
	if p.MaxIdleConnsPerHost == 0 {
		p.MaxIdleConnsPerHost = 64
	}
	return p
}

// Config configures a LoadBalancer.
type Config struct {
	// Region and AccountID go into the ARNs (default us-east-1,
	// 123456789012).
	Region, AccountID string
	// Name is the load balancer's name (default "relay").
	Name string
	// ColourHeader is the response header naming the colour of the target
	// group that took the request (default DefaultColourHeader).
	ColourHeader string
	// Proxy tunes the reverse proxy.
	Proxy ProxyTuning
	// Metrics receives the AWS/ApplicationELB datapoints (may be nil).
	Metrics MetricSink
	// Log receives control-plane and health transitions (default: discard).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Seed seeds the weighted target-group choice (0: random).
	Seed uint64
	// OnChange, if set, is called after a listener's actions or rules
	// changed (from the goroutine that changed them, without locks held).
	OnChange func(listenerARN string)
}

// LoadBalancer is an Application Load Balancer: listeners with rules,
// target groups with targets, tags.
type LoadBalancer struct {
	cfg   Config
	arn   string
	dim   string
	proxy *httputil.ReverseProxy
	hcCli *http.Client

	mu           sync.Mutex
	listeners    []*Listener // creation order
	targetGroups map[string]*TargetGroup
	tgOrder      []string
	tags         map[string]map[string]string
	closed       bool

	randMu sync.Mutex
	rand   *rand.Rand

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a load balancer with no listeners and no target groups.
// Health checks start with Start.
func New(cfg Config) *LoadBalancer {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	if cfg.Name == "" {
		cfg.Name = "relay"
	}
	if cfg.ColourHeader == "" {
		cfg.ColourHeader = DefaultColourHeader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Proxy = cfg.Proxy.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	id := shortID(cfg.Name, "loadbalancer")
	lb := &LoadBalancer{
		cfg:          cfg,
		arn:          fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/app/%s/%s", cfg.Region, cfg.AccountID, cfg.Name, id),
		dim:          "app/" + cfg.Name + "/" + id,
		targetGroups: map[string]*TargetGroup{},
		tags:         map[string]map[string]string{},
		rand:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	lb.ctx, lb.cancel = context.WithCancel(context.Background())
	lb.tags[lb.arn] = map[string]string{}
	lb.proxy = lb.newProxy()
	lb.hcCli = &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: cfg.Proxy.DialTimeout}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return lb
}

// shortID is a stable 16-hex-digit id derived from names, so the lab's
// ARNs are the same from one run to the next.
func shortID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

// ARN returns the load balancer's ARN.
func (lb *LoadBalancer) ARN() string { return lb.arn }

// Name returns the load balancer's name.
func (lb *LoadBalancer) Name() string { return lb.cfg.Name }

// Dimension returns the CloudWatch LoadBalancer dimension, "app/<name>/<id>".
func (lb *LoadBalancer) Dimension() string { return lb.dim }

// ColourHeader returns the response header naming the serving colour.
func (lb *LoadBalancer) ColourHeader() string { return lb.cfg.ColourHeader }

// HealthCheck configures a target group's health checks (ELBv2's target
// group health-check settings). Zero fields take ELBv2's defaults.
type HealthCheck struct {
	// Disabled turns health checks off: targets report "unavailable"
	// (Target.HealthCheckDisabled) and all receive traffic.
	Disabled bool
	// Path is requested with GET (default "/").
	Path string
	// Interval between checks of a target (default 30 s).
	Interval time.Duration
	// Timeout of one check (default 5 s).
	Timeout time.Duration
	// HealthyThreshold consecutive successes make a target healthy
	// (default 5).
	HealthyThreshold int
	// UnhealthyThreshold consecutive failures make it unhealthy (default 2).
	UnhealthyThreshold int
	// Matcher lists the success codes: "200", "200,202", "200-299"
	// (default "200").
	Matcher string
}

func (h HealthCheck) withDefaults() HealthCheck {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Interval == 0 {
		h.Interval = 30 * time.Second
	}
	if h.Timeout == 0 {
		h.Timeout = 5 * time.Second
	}
	if h.HealthyThreshold == 0 {
		h.HealthyThreshold = 5
	}
	if h.UnhealthyThreshold == 0 {
		h.UnhealthyThreshold = 2
	}
	if h.Matcher == "" {
		h.Matcher = "200"
	}
	return h
}

// matcher parses "200", "200,202" or "200-299".
func parseMatcher(m string) (func(int) bool, error) {
	var ranges [][2]int
	for part := range strings.SplitSeq(m, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("health check matcher %q: %w", m, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("health check matcher %q: %w", m, err)
			}
		}
		if a < 200 || b > 499 || a > b {
			return nil, fmt.Errorf("health check matcher %q: codes must be within 200-499", m)
		}
		ranges = append(ranges, [2]int{a, b})
	}
	return func(code int) bool {
		for _, r := range ranges {
			if code >= r[0] && code <= r[1] {
				return true
			}
		}
		return false
	}, nil
}

// TargetGroupSpec describes a target group to create.
type TargetGroupSpec struct {
	// Name is the target group's name (it goes into its ARN).
	Name string
	// Colour labels the group in the colour response header ("blue",
	// "green"); default: the name.
	Colour string
	// HealthCheck configures the health checks.
	HealthCheck HealthCheck
	// DeregistrationDelay is how long a deregistered target drains
	// (default 300 s, ELBv2's deregistration_delay.timeout_seconds).
	DeregistrationDelay time.Duration
	// DeregistrationDelaySet makes a zero DeregistrationDelay mean zero.
	DeregistrationDelaySet bool
}

// AddTargetGroup creates a target group with no targets.
func (lb *LoadBalancer) AddTargetGroup(spec TargetGroupSpec) (*TargetGroup, error) {
	if spec.Name == "" {
		return nil, errors.New("target group needs a name")
	}
	hc := spec.HealthCheck.withDefaults()
	match, err := parseMatcher(hc.Matcher)
	if err != nil {
		return nil, err
	}
	if hc.Timeout >= hc.Interval {
		return nil, fmt.Errorf("target group %s: health check timeout %s must be shorter than the interval %s", spec.Name, hc.Timeout, hc.Interval)
	}
	if !spec.DeregistrationDelaySet && spec.DeregistrationDelay == 0 {
		spec.DeregistrationDelay = 300 * time.Second
	}
	if spec.Colour == "" {
		spec.Colour = spec.Name
	}
	id := shortID(lb.cfg.Name, "targetgroup", spec.Name)
	tg := &TargetGroup{
		lb:     lb,
		arn:    fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", lb.cfg.Region, lb.cfg.AccountID, spec.Name, id),
		name:   spec.Name,
		colour: spec.Colour,
		hc:     hc,
		match:  match,
		dereg:  spec.DeregistrationDelay,
		wake:   make(chan struct{}, 1),
	}
	tg.dim = "targetgroup/" + spec.Name + "/" + id
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return nil, errors.New("load balancer closed")
	}
	if _, dup := lb.targetGroups[tg.arn]; dup {
		return nil, fmt.Errorf("target group %s already exists", spec.Name)
	}
	lb.targetGroups[tg.arn] = tg
	lb.tgOrder = append(lb.tgOrder, tg.arn)
	lb.tags[tg.arn] = map[string]string{}
	lb.wg.Add(1)
	go func() { defer lb.wg.Done(); tg.healthLoop(lb.ctx) }()
	return tg, nil
}

// TargetGroups returns the target groups in creation order.
func (lb *LoadBalancer) TargetGroups() []*TargetGroup {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make([]*TargetGroup, 0, len(lb.tgOrder))
	for _, arn := range lb.tgOrder {
		out = append(out, lb.targetGroups[arn])
	}
	return out
}

// TargetGroup returns the target group with arn.
func (lb *LoadBalancer) TargetGroup(arn string) (*TargetGroup, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	tg, ok := lb.targetGroups[arn]
	if !ok {
		return nil, errorf(CodeTargetGroupNotFound, "Target group '%s' not found", arn)
	}
	return tg, nil
}

// TargetGroupByName returns the target group called name.
func (lb *LoadBalancer) TargetGroupByName(name string) (*TargetGroup, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, tg := range lb.targetGroups {
		if tg.name == name {
			return tg, nil
		}
	}
	return nil, errorf(CodeTargetGroupNotFound, "One or more target groups not found")
}

// ListenerSpec describes a listener to start.
type ListenerSpec struct {
	// Key is a stable name for the listener ("production", "test"); its
	// ARN is derived from it.
	Key string
	// Addr is the loopback address to listen on ("127.0.0.1:0" picks a
	// free port).
	Addr string
	// DefaultActions are the listener's default actions.
	DefaultActions []Action
}

// AddListener starts a listener serving the reverse proxy on spec.Addr.
func (lb *LoadBalancer) AddListener(spec ListenerSpec) (*Listener, error) {
	if spec.Key == "" {
		return nil, errors.New("listener needs a key")
	}
	if spec.Addr == "" {
		spec.Addr = "127.0.0.1:0"
	}
	lb.mu.Lock()
	if err := lb.validateActions("defaultActions", spec.DefaultActions); err != nil {
		lb.mu.Unlock()
		return nil, err
	}
	lb.mu.Unlock()
	ln, err := net.Listen("tcp", spec.Addr)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", spec.Key, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	id := shortID(lb.cfg.Name, "listener", spec.Key)
	l := &Listener{
		lb:   lb,
		key:  spec.Key,
		arn:  fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener/app/%s/%s/%s", lb.cfg.Region, lb.cfg.AccountID, lb.cfg.Name, shortID(lb.cfg.Name, "loadbalancer"), id),
		port: port,
		ln:   ln,
	}
	l.defaultRuleARN = l.ruleARN("default")
	l.routes.Store(&routing{defaults: cloneActions(spec.DefaultActions)})
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: lb.cfg.Proxy.ReadHeaderTimeout, ErrorLog: slog.NewLogLogger(lb.cfg.Log.Handler(), slog.LevelDebug)}
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		ln.Close()
		return nil, errors.New("load balancer closed")
	}
	lb.listeners = append(lb.listeners, l)
	lb.tags[l.arn] = map[string]string{}
	lb.tags[l.defaultRuleARN] = map[string]string{}
	lb.mu.Unlock()
	lb.wg.Add(1)
	go func() {
		defer lb.wg.Done()
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lb.cfg.Log.Error("listener stopped", "listener", spec.Key, "error", err)
		}
	}()
	lb.wakeHealth()
	return l, nil
}

// Listeners returns the listeners in creation order.
func (lb *LoadBalancer) Listeners() []*Listener {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.listeners)
}

// Listener returns the listener with arn.
func (lb *LoadBalancer) Listener(arn string) (*Listener, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.listenerLocked(arn)
}

func (lb *LoadBalancer) listenerLocked(arn string) (*Listener, error) {
	for _, l := range lb.listeners {
		if l.arn == arn {
			return l, nil
		}
	}
	return nil, errorf(CodeListenerNotFound, "Listener '%s' not found", arn)
}

// RuleSpec describes a listener rule to create.
type RuleSpec struct {
	// Key is a stable name for the rule; its ARN is derived from it.
	Key        string
	Priority   int
	Conditions []Condition
	Actions    []Action
}

// AddRule adds a rule to a listener.
func (lb *LoadBalancer) AddRule(listenerARN string, spec RuleSpec) (Rule, error) {
	lb.mu.Lock()
	l, err := lb.listenerLocked(listenerARN)
	if err != nil {
		lb.mu.Unlock()
		return Rule{}, err
	}
	if spec.Priority < 1 || spec.Priority > 50000 {
		lb.mu.Unlock()
		return Rule{}, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'priority' failed to satisfy constraint: Member must have value between 1 and 50000", spec.Priority)
	}
	if err := validateConditions(spec.Conditions); err != nil {
		lb.mu.Unlock()
		return Rule{}, err
	}
	if err := lb.validateActions("actions", spec.Actions); err != nil {
		lb.mu.Unlock()
		return Rule{}, err
	}
	rt := l.routes.Load()
	for _, r := range rt.rules {
		if r.Priority == spec.Priority {
			lb.mu.Unlock()
			return Rule{}, errorf(CodePriorityInUse, "Priority '%d' is currently in use", spec.Priority)
		}
	}
	r := Rule{ARN: l.ruleARN(spec.Key), Priority: spec.Priority, Conditions: cloneConditions(spec.Conditions), Actions: cloneActions(spec.Actions)}
	next := rt.clone()
	next.rules = append(next.rules, r)
	slices.SortFunc(next.rules, func(a, b Rule) int { return a.Priority - b.Priority })
	l.routes.Store(next)
	lb.tags[r.ARN] = map[string]string{}
	lb.mu.Unlock()
	lb.changed(l.arn)
	return r, nil
}

// Rules returns a listener's rules as DescribeRules reports them: by
// priority, the default rule last.
func (lb *LoadBalancer) Rules(listenerARN string) ([]Rule, error) {
	l, err := lb.Listener(listenerARN)
	if err != nil {
		return nil, err
	}
	return l.describeRules(), nil
}

// Rule returns the rule with arn (the default rule included).
func (lb *LoadBalancer) Rule(arn string) (Rule, error) {
	for _, l := range lb.Listeners() {
		for _, r := range l.describeRules() {
			if r.ARN == arn {
				return r, nil
			}
		}
	}
	return Rule{}, errorf(CodeRuleNotFound, "One or more rules not found")
}

// ModifyListener replaces a listener's default actions (the complete list,
// as ELBv2 does) after validating them like ELBv2.
func (lb *LoadBalancer) ModifyListener(listenerARN string, actions []Action) error {
	lb.mu.Lock()
	l, err := lb.listenerLocked(listenerARN)
	if err == nil {
		if verr := lb.validateActions("defaultActions", actions); verr != nil {
			err = verr
		}
	}
	if err != nil {
		lb.mu.Unlock()
		return err
	}
	next := l.routes.Load().clone()
	next.defaults = cloneActions(actions)
	l.routes.Store(next)
	lb.mu.Unlock()
	lb.cfg.Log.Info("listener modified", "listener", l.key, "actions", describeForward(actions))
	lb.changed(l.arn)
	return nil
}

// ModifyRule replaces a rule's conditions and/or actions (nil leaves them
// unchanged). The default rule's actions are the listener's default actions;
// its conditions cannot change.
func (lb *LoadBalancer) ModifyRule(ruleARN string, conditions *[]Condition, actions *[]Action) error {
	lb.mu.Lock()
	var (
		l   *Listener
		idx = -2
	)
	for _, cand := range lb.listeners {
		if cand.defaultRuleARN == ruleARN {
			l, idx = cand, -1
			break
		}
		for i, r := range cand.routes.Load().rules {
			if r.ARN == ruleARN {
				l, idx = cand, i
			}
		}
		if l != nil {
			break
		}
	}
	fail := func(err error) error { lb.mu.Unlock(); return err }
	if l == nil {
		return fail(errorf(CodeRuleNotFound, "One or more rules not found"))
	}
	if conditions != nil {
		if idx == -1 {
			return fail(errorf(CodeOperationNotAllowed, "The conditions of a default rule cannot be modified"))
		}
		if err := validateConditions(*conditions); err != nil {
			return fail(err)
		}
	}
	if actions != nil {
		if err := lb.validateActions("actions", *actions); err != nil {
			return fail(err)
		}
	}
	next := l.routes.Load().clone()
	switch {
	case idx == -1 && actions != nil:
		next.defaults = cloneActions(*actions)
	case idx >= 0:
		r := next.rules[idx]
		if conditions != nil {
			r.Conditions = cloneConditions(*conditions)
		}
		if actions != nil {
			r.Actions = cloneActions(*actions)
		}
		next.rules[idx] = r
	}
	l.routes.Store(next)
	lb.mu.Unlock()
	if actions != nil {
		lb.cfg.Log.Info("rule modified", "listener", l.key, "rule", ruleARN, "actions", describeForward(*actions))
	}
	lb.changed(l.arn)
	return nil
}

func (lb *LoadBalancer) changed(listenerARN string) {
	lb.wakeHealth()
	if lb.cfg.OnChange != nil {
		lb.cfg.OnChange(listenerARN)
	}
}

// describeForward summarises the forward weights of an action list for logs.
func describeForward(acts []Action) string {
	var parts []string
	for _, a := range acts {
		if a.Type != ActionForward {
			parts = append(parts, a.Type)
			continue
		}
		if a.Forward == nil {
			parts = append(parts, lastSegment(a.TargetGroupARN, 2)+"=1")
			continue
		}
		for _, tg := range a.Forward.TargetGroups {
			w := 1
			if tg.Weight != nil {
				w = *tg.Weight
			}
			parts = append(parts, lastSegment(tg.ARN, 2)+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, " ")
}

// lastSegment returns the n-th last "/"-separated segment of s.
func lastSegment(s string, n int) string {
	parts := strings.Split(s, "/")
	if len(parts) < n {
		return s
	}
	return parts[len(parts)-n]
}

// ResourceKind names what an ARN designates, for not-found errors.
func (lb *LoadBalancer) notFound(arn string) *Error {
	switch {
	case strings.Contains(arn, ":listener-rule/"):
		return errorf(CodeRuleNotFound, "One or more rules not found")
	case strings.Contains(arn, ":listener/"):
		return errorf(CodeListenerNotFound, "Listener '%s' not found", arn)
	case strings.Contains(arn, ":targetgroup/"):
		return errorf(CodeTargetGroupNotFound, "One or more target groups not found")
	case strings.Contains(arn, ":loadbalancer/"):
		return errorf(CodeLoadBalancerNotFnd, "One or more load balancers not found")
	}
	return errorf(CodeValidation, "'%s' is not a valid load balancer, listener, rule or target group ARN", arn)
}

// tagsLocked returns the tag map of arn, creating the maps of rules lazily.
func (lb *LoadBalancer) tagsLocked(arn string) (map[string]string, *Error) {
	if m, ok := lb.tags[arn]; ok {
		return m, nil
	}
	return nil, lb.notFound(arn)
}

// Tags returns a copy of the tags of each resource, in the order given.
func (lb *LoadBalancer) Tags(arns []string) ([]map[string]string, error) {
	if len(arns) > 20 {
		return nil, errorf(CodeValidation, "1 validation error detected: Value at 'resourceArns' failed to satisfy constraint: Member must have length less than or equal to 20")
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make([]map[string]string, len(arns))
	for i, arn := range arns {
		m, err := lb.tagsLocked(arn)
		if err != nil {
			return nil, err
		}
		out[i] = maps.Clone(m)
	}
	return out, nil
}

// Tag is one key/value pair.
type Tag struct{ Key, Value string }

// AddTags sets tags on each resource, all or nothing.
func (lb *LoadBalancer) AddTags(arns []string, tags []Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t.Key] {
			return errorf(CodeDuplicateTagKeys, "Tag key '%s' is specified more than once", t.Key)
		}
		seen[t.Key] = true
		if t.Key == "" || len(t.Key) > 128 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errorf(CodeValidation, "Tag key '%s' is not valid: 1 to 128 characters, not starting with 'aws:'", t.Key)
		}
		if len(t.Value) > 256 {
			return errorf(CodeValidation, "The value of tag '%s' is longer than 256 characters", t.Key)
		}
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, arn := range arns {
		m, err := lb.tagsLocked(arn)
		if err != nil {
			return err
		}
		n := len(m)
		for _, t := range tags {
			if _, ok := m[t.Key]; !ok {
				n++
			}
		}
		if n > maxTagsPerResource {
			return errorf(CodeTooManyTags, "The quota for the number of tags that can be assigned to a load balancer resource has been reached")
		}
	}
	for _, arn := range arns {
		for _, t := range tags {
			lb.tags[arn][t.Key] = t.Value
		}
	}
	return nil
}

// RemoveTags removes tag keys from each resource (absent keys are fine).
func (lb *LoadBalancer) RemoveTags(arns []string, keys []string) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, arn := range arns {
		if _, err := lb.tagsLocked(arn); err != nil {
			return err
		}
	}
	for _, arn := range arns {
		for _, k := range keys {
			delete(lb.tags[arn], k)
		}
	}
	return nil
}

// inUse reports whether any listener action or rule references tg.
func (lb *LoadBalancer) inUse(tgARN string) bool {
	for _, l := range lb.Listeners() {
		rt := l.routes.Load()
		refs := func(acts []Action) bool {
			for _, a := range acts {
				if a.TargetGroupARN == tgARN {
					return true
				}
				if a.Forward != nil && slices.ContainsFunc(a.Forward.TargetGroups, func(t WeightedTargetGroup) bool { return t.ARN == tgARN }) {
					return true
				}
			}
			return false
		}
		if refs(rt.defaults) {
			return true
		}
		for _, r := range rt.rules {
			if refs(r.Actions) {
				return true
			}
		}
	}
	return false
}

// LoadBalancerARNs returns the ARNs of the load balancers a target group
// is used by (this one, when a listener or rule references it).
func (lb *LoadBalancer) LoadBalancerARNs(tgARN string) []string {
	if lb.inUse(tgARN) {
		return []string{lb.arn}
	}
	return []string{}
}

func (lb *LoadBalancer) wakeHealth() {
	for _, tg := range lb.TargetGroups() {
		select {
		case tg.wake <- struct{}{}:
		default:
		}
	}
}

// Close stops the listeners (letting in-flight requests finish for
// ShutdownGrace, then cutting them), the health checks and the drains.
func (lb *LoadBalancer) Close(ctx context.Context) error {
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		return nil
	}
	lb.closed = true
	ls := slices.Clone(lb.listeners)
	lb.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, lb.cfg.Proxy.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, l := range ls {
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
			if !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, err)
			}
		}
	}
	lb.cancel()
	lb.wg.Wait()
	if t, ok := lb.proxy.Transport.(*timedTransport); ok {
		t.base.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// URL returns the listener's base URL, "http://127.0.0.1:<port>".
func (l *Listener) URL() string { return "http://" + l.ln.Addr().String() }

// parseTargetURL validates a target's URL.
func parseTargetURL(raw string) (*url.URL, string, int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", 0, err
	}
	if u.Scheme != "http" {
		return nil, "", 0, fmt.Errorf("target %q: only http targets are supported", raw)
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, "", 0, fmt.Errorf("target %q: %w", raw, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, "", 0, fmt.Errorf("target %q: bad port", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}, host, port, nil
}
