package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Invoker invokes a Lambda function (the lab's in-process functions, or a
// Lambda invoke endpoint).
type Invoker interface {
	Invoke(ctx context.Context, functionName string, payload []byte) ([]byte, error)
}

// Target is a rule's Lambda target with its retry policy.
type Target struct {
	// Function is the function's name (or ARN).
	Function    string
	RetryPolicy RetryPolicy
}

// RetryPolicy is a target's retry policy, as EventBridge's
// types.RetryPolicy and a SAM EventBridgeRule event's RetryPolicy give it:
// a nil field takes EventBridge's default (185 attempts, 86400 seconds).
type RetryPolicy struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
}

// Rule is a rule on the default bus.
type Rule struct {
	Name    string
	Pattern *Pattern
	Target  Target
}

// Delivery records one event's delivery to one target.
type Delivery struct {
	Rule     string
	Function string
	EventID  string
	// Event is the event delivered.
	Event     []byte
	Received  time.Time
	Delivered time.Time
	Attempts  int
	// Err is the last failure; empty when the target took the event.
	Err string
	// Response is the function's response payload.
	Response []byte
	// DeadLettered is set when the retry policy gave up.
	DeadLettered bool
}

// Config configures a Bus.
type Config struct {
	Invoker Invoker
	// TimeScale multiplies retry delays, like the rest of the lab
	// (default 1).
	TimeScale float64
	// IsFunctionError tells a failure of the function itself (which Lambda
	// retries twice for asynchronous invocations) from a failure to invoke
	// it (which EventBridge retries per the retry policy). Default: none is.
	IsFunctionError func(error) bool
	// OnDelivery, if set, is called after each delivery ends.
	OnDelivery func(Delivery)
	Now        func() time.Time
	Log        *slog.Logger
}

// Bus is the default event bus.
type Bus struct {
	cfg Config

	mu         sync.Mutex
	rules      []Rule
	deliveries []Delivery

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a bus with no rules.
func New(cfg Config) *Bus {
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.IsFunctionError == nil {
		cfg.IsFunctionError = func(error) bool { return false }
	}
	b := &Bus{cfg: cfg}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// AddRule adds a rule.
func (b *Bus) AddRule(r Rule) error {
	if r.Name == "" || r.Pattern == nil || r.Target.Function == "" {
		return errors.New("a rule needs a name, a pattern and a target function")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.rules, func(x Rule) bool { return x.Name == r.Name }) {
		return fmt.Errorf("rule %s already exists", r.Name)
	}
	b.rules = append(b.rules, r)
	return nil
}

// Rules returns the rules.
func (b *Bus) Rules() []Rule {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.rules)
}

// Put puts an event on the bus and returns the names of the rules it
// matched; matched targets are invoked asynchronously, as EventBridge does.
func (b *Bus) Put(event []byte) ([]string, error) {
	var m map[string]any
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	id, _ := m["id"].(string)
	received := b.cfg.Now()
	var matched []string
	for _, r := range b.Rules() {
		if !r.Pattern.Match(m) {
			continue
		}
		matched = append(matched, r.Name)
		b.cfg.Log.Info("event matched rule", "rule", r.Name, "event", id, "detail_type", m["detail-type"], "target", r.Target.Function)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.deliver(r, id, event, received)
		}()
	}
	return matched, nil
}

// deliver invokes a rule's target until it takes the event or the retry
// policy gives up.
// NOTE: EventBridge invokes Lambda asynchronously. It retries a failed
// invoke with exponential backoff up to MaximumRetryAttempts within
// MaximumEventAgeInSeconds (defaults 185 and 24 h); a function that
// returns an error is retried twice by Lambda's asynchronous invocation,
// one then two minutes later (EventBridge and Lambda developer guides).
func (b *Bus) deliver(r Rule, id string, event []byte, received time.Time) {
	maxRetries, maxAge := 185, 24*time.Hour
	if n := r.Target.RetryPolicy.MaximumRetryAttempts; n != nil {
		maxRetries = *n
	}
	if n := r.Target.RetryPolicy.MaximumEventAgeInSeconds; n != nil {
		maxAge = time.Duration(*n) * time.Second
	}
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * b.cfg.TimeScale) }
	d := Delivery{Rule: r.Name, Function: r.Target.Function, EventID: id, Event: event, Received: received}
	invokeRetries, functionRetries := 0, 0
	backoff := time.Second
	for {
		d.Attempts++
		out, err := b.cfg.Invoker.Invoke(b.ctx, r.Target.Function, event)
		if err == nil {
			d.Delivered, d.Response, d.Err = b.cfg.Now(), out, ""
			break
		}
		d.Err = err.Error()
		var wait time.Duration
		if b.cfg.IsFunctionError(err) {
			if functionRetries >= 2 {
				b.cfg.Log.Warn("function failed on the event; Lambda's asynchronous retries are spent", "rule", r.Name, "event", id, "error", err)
				d.DeadLettered = true
				break
			}
			functionRetries++
			wait = time.Duration(functionRetries) * time.Minute
		} else {
			if invokeRetries >= maxRetries || b.cfg.Now().Sub(received) > scale(maxAge) {
				b.cfg.Log.Error("event not delivered; retry policy exhausted", "rule", r.Name, "event", id, "error", err)
				d.DeadLettered = true
				break
			}
			invokeRetries++
			wait = backoff
			backoff = min(backoff*2, time.Minute)
		}
		b.cfg.Log.Warn("delivery failed; retrying", "rule", r.Name, "event", id, "attempt", d.Attempts, "in", scale(wait).String(), "error", err)
		select {
		case <-b.ctx.Done():
			d.Err = "bus closed: " + d.Err
			b.record(d)
			return
		case <-time.After(scale(wait)):
		}
	}
	b.record(d)
}

func (b *Bus) record(d Delivery) {
	b.mu.Lock()
	b.deliveries = append(b.deliveries, d)
	b.mu.Unlock()
	if b.cfg.OnDelivery != nil {
		b.cfg.OnDelivery(d)
	}
}

// Deliveries returns the deliveries that ended, in order.
func (b *Bus) Deliveries() []Delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.deliveries)
}

// Wait waits until every delivery in flight has ended.
func (b *Bus) Wait() { b.wg.Wait() }

// Close abandons deliveries still retrying and waits for the ones running.
func (b *Bus) Close() {
	b.cancel()
	b.wg.Wait()
}
