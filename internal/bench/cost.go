package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// Prices used by the cost estimate, in US dollars: us-east-1, on-demand,
// first pricing tier, as published on the pages named.
const (
	// LambdaARMPerGBSecond is Lambda's duration price on arm64
	// (aws.amazon.com/lambda/pricing, us-east-1, first tier).
	LambdaARMPerGBSecond = 0.0000133334
	// LambdaPerRequest is Lambda's request price, $0.20 per 1M requests
	// (aws.amazon.com/lambda/pricing).
	LambdaPerRequest = 0.20 / 1e6
	// StepFunctionsPerTransition is the Standard workflow price, $0.025 per
	// 1,000 state transitions (aws.amazon.com/step-functions/pricing).
	StepFunctionsPerTransition = 0.025 / 1000
	// GetMetricDataPerMetric is CloudWatch's GetMetricData price, $0.01 per
	// 1,000 metrics requested (aws.amazon.com/cloudwatch/pricing).
	GetMetricDataPerMetric = 0.01 / 1000
)

// defaultMemoryMB is CloudFormation's default MemorySize for a function.
const defaultMemoryMB = 128

// MemorySizes returns each function's MemorySize in MB (by function name,
// functions/<name>) as template.yaml declares it: the function's own, else
// Globals.Function's, else 128.
func MemorySizes(t *samtemplate.Template) (map[string]int, error) {
	global := defaultMemoryMB
	if v := samtemplate.Path(t.Globals, "Function", "MemorySize"); v != nil {
		n, err := memoryOf(v)
		if err != nil {
			return nil, fmt.Errorf("Globals.Function.MemorySize: %w", err)
		}
		global = n
	}
	out := map[string]int{}
	for _, f := range functions.All() {
		r, ok := t.Resources[f.LogicalID]
		if !ok {
			return nil, fmt.Errorf("function %s (%s) is not in the template", f.Name, f.LogicalID)
		}
		out[f.Name] = global
		if v, ok := r.Properties["MemorySize"]; ok {
			n, err := memoryOf(v)
			if err != nil {
				return nil, fmt.Errorf("%s.MemorySize: %w", f.LogicalID, err)
			}
			out[f.Name] = n
		}
	}
	return out, nil
}

func memoryOf(v any) (int, error) {
	switch n := v.(type) {
	case int:
		if n >= 128 && n <= 10240 {
			return n, nil
		}
	case float64:
		if n >= 128 && n <= 10240 && n == math.Trunc(n) {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("%v is not a memory size from 128 to 10240 MB (a parameter reference cannot be estimated)", v)
}

// Consumption is what one deployment consumed of the priced AWS resources.
type Consumption struct {
	// Transitions are Step Functions state transitions.
	Transitions int
	// Invocations are the Lambda invocations, each with its function's
	// MemorySize.
	Invocations []BilledInvocation
	// Metrics are the metrics requested through GetMetricData.
	Metrics int
}

// BilledInvocation is one Lambda invocation as Lambda bills it.
type BilledInvocation struct {
	Function string
	MemoryMB int
	Duration time.Duration
}

// BilledMs is the duration Lambda bills: rounded up to the millisecond.
// NOTE: Lambda bills duration "rounded up to the nearest 1 ms"
// (aws.amazon.com/lambda/pricing).
func (b BilledInvocation) BilledMs() int64 {
	ms := b.Duration.Milliseconds()
	if b.Duration > time.Duration(ms)*time.Millisecond {
		ms++
	}
	return max(ms, 1)
}

// GBSeconds is the invocation's billed compute.
func (b BilledInvocation) GBSeconds() float64 {
	return float64(b.BilledMs()) / 1000 * float64(b.MemoryMB) / 1024
}

// Cost is a Consumption priced.
type Cost struct {
	Consumption
	BilledMs                                int64
	GBSeconds                               float64
	StepFunctions, LambdaRequests, Duration float64
	GetMetricData                           float64
}

// Lambda is the Lambda part: requests and duration.
func (c Cost) Lambda() float64 { return c.LambdaRequests + c.Duration }

// Total is the whole estimate.
func (c Cost) Total() float64 { return c.StepFunctions + c.Lambda() + c.GetMetricData }

// Price prices u.
func Price(u Consumption) Cost {
	c := Cost{Consumption: u}
	for _, inv := range u.Invocations {
		c.BilledMs += inv.BilledMs()
		c.GBSeconds += inv.GBSeconds()
	}
	c.StepFunctions = float64(u.Transitions) * StepFunctionsPerTransition
	c.LambdaRequests = float64(len(u.Invocations)) * LambdaPerRequest
	c.Duration = c.GBSeconds * LambdaARMPerGBSecond
	c.GetMetricData = float64(u.Metrics) * GetMetricDataPerMetric
	return c
}
