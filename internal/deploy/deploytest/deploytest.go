// Package deploytest provides stateful in-memory implementations of the
// deploy ports (Router, Targets, Executions) for tests and examples. They
// behave like the real adapters: SetWeights writes only when the split
// differs and round-trips through Weights.
package deploytest

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
)

// Router is an in-memory listener with blue and green target groups.
type Router struct {
	mu      sync.Mutex
	weights deploy.Weights
	tags    map[string]string
	health  map[deploy.Colour]deploy.Health
	writes  []deploy.Weights

	// BeforeWrite, when set, runs before each weight write with the
	// weights about to be written; AfterWrite after it. Tests use them to
	// interleave other actors. They run without the lock held.
	BeforeWrite func(w deploy.Weights)
	AfterWrite  func(w deploy.Weights)
	// Err, when set, is returned by every call.
	Err error
}

// NewRouter returns a Router with the given weights and one healthy target
// per colour.
func NewRouter(w deploy.Weights) *Router {
	return &Router{
		weights: w,
		tags:    map[string]string{},
		health: map[deploy.Colour]deploy.Health{
			deploy.Blue:  {Total: 1, Healthy: 1},
			deploy.Green: {Total: 1, Healthy: 1},
		},
	}
}

// Weights implements deploy.Router.
func (r *Router) Weights(context.Context) (deploy.Weights, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.weights, r.Err
}

// SetWeights implements deploy.Router.
func (r *Router) SetWeights(_ context.Context, w deploy.Weights) (deploy.Weights, error) {
	if err := w.Validate(); err != nil {
		return deploy.Weights{}, deploy.Errorf(deploy.RequestRejected, "%v", err)
	}
	r.mu.Lock()
	before, err := r.weights, r.Err
	r.mu.Unlock()
	if err != nil {
		return deploy.Weights{}, err
	}
	if before.Same(w) {
		return before, nil
	}
	if r.BeforeWrite != nil {
		r.BeforeWrite(w)
	}
	r.mu.Lock()
	r.weights = w
	r.writes = append(r.writes, w)
	r.mu.Unlock()
	if r.AfterWrite != nil {
		r.AfterWrite(w)
	}
	return before, nil
}

// Writes returns every weight write so far, in order.
func (r *Router) Writes() []deploy.Weights {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deploy.Weights(nil), r.writes...)
}

// Tags implements deploy.Router.
func (r *Router) Tags(context.Context) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.tags), r.Err
}

// Tag implements deploy.Router.
func (r *Router) Tag(_ context.Context, set map[string]string, remove []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Err != nil {
		return r.Err
	}
	maps.Copy(r.tags, set)
	for _, k := range remove {
		delete(r.tags, k)
	}
	return nil
}

// SetHealth sets the health reported for colour c.
func (r *Router) SetHealth(c deploy.Colour, h deploy.Health) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health[c] = h
}

// Health implements deploy.Targets.
func (r *Router) Health(_ context.Context, c deploy.Colour) (deploy.Health, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health[c], r.Err
}

// Executions is an in-memory set of executions of one or more state
// machines.
type Executions struct {
	mu      sync.Mutex
	execs   map[string]deploy.Execution
	records map[string]deploy.Record
	stops   []string
}

// NewExecutions returns an empty set.
func NewExecutions() *Executions {
	return &Executions{execs: map[string]deploy.Execution{}, records: map[string]deploy.Record{}}
}

// ExecutionARN returns the ARN of execution name of the test state machine.
func ExecutionARN(name string) string {
	return "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:" + name
}

// Start adds a RUNNING execution called name, started at t, and returns its
// ARN.
func (e *Executions) Start(name string, t time.Time) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	arn := ExecutionARN(name)
	e.execs[arn] = deploy.Execution{ARN: arn, Name: name, Status: deploy.Running, Started: t}
	return arn
}

// Describe implements deploy.Executions.
func (e *Executions) Describe(_ context.Context, arn string) (deploy.Execution, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.execs[arn]
	if !ok {
		return deploy.Execution{}, deploy.Errorf(deploy.InvalidInput, "execution %s does not exist", arn)
	}
	return x, nil
}

// Running implements deploy.Executions.
func (e *Executions) Running(_ context.Context, sm string) ([]deploy.Execution, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []deploy.Execution
	for _, x := range e.execs {
		if owner, _ := deploy.StateMachineOf(x.ARN); owner == sm && x.Status == deploy.Running {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, nil
}

// Stop implements deploy.Executions.
func (e *Executions) Stop(_ context.Context, arn, errorName, cause string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.execs[arn]
	if !ok {
		return deploy.Errorf(deploy.InvalidInput, "execution %s does not exist", arn)
	}
	if x.Status != deploy.Running {
		return nil
	}
	x.Status = "ABORTED"
	e.execs[arn] = x
	e.stops = append(e.stops, fmt.Sprintf("%s %s: %s", x.Name, errorName, cause))
	return nil
}

// SetRecord stores the deployment record of execution arn, as Preflight's
// output in its history.
func (e *Executions) SetRecord(arn string, rec deploy.Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[arn] = rec
}

// Record implements deploy.Executions.
func (e *Executions) Record(_ context.Context, arn string) (deploy.Record, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.execs[arn]; !ok {
		return deploy.Record{}, deploy.Errorf(deploy.InvalidInput, "execution %s does not exist", arn)
	}
	rec, ok := e.records[arn]
	if !ok {
		return deploy.Record{}, deploy.ErrNoRecord
	}
	return rec, nil
}

// Stops returns one line per effective stop.
func (e *Executions) Stops() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.stops...)
}
