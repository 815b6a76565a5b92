package infra_test

import (
	"fmt"
	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/rollback"
)

// contract is a function's Go payload types: what it decodes (strictly)
// and what it returns.
type contract struct {
	// in and out are zero values of the input and output types.
	in, out any
	// validate checks a decoded input further, as the function would.
	validate func(in any) error
}

// contracts maps every function's template logical id to its types.
var contracts = map[string]contract{
	"PreflightFunction": {in: deploy.PreflightInput{}, out: deploy.Record{},
		validate: func(v any) error {
			in := v.(*deploy.PreflightInput)
			if err := deploy.ValidateExecutionARN(in.ExecutionARN); err != nil {
				return err
			}
			return in.Request.Validate(false)
		}},
	"ReleaseFunction": {in: ecsrelease.Input{}, out: ecsrelease.Output{},
		validate: func(v any) error {
			in := v.(*ecsrelease.Input)
			if (in.Action == "check") != (in.Release != nil) {
				return fmt.Errorf("action %q with a previous release output: %v (the poll carries it, the start does not)", in.Action, in.Release != nil)
			}
			return in.Deployment.ValidateFor(in.ExecutionARN)
		}},
	"HealthCheckFunction": {in: candidate.Input{}, out: candidate.HealthOutput{},
		validate: func(v any) error { in := v.(*candidate.Input); return in.Deployment.ValidateFor(in.ExecutionARN) }},
	"WarmUpFunction": {in: candidate.Input{}, out: candidate.WarmupOutput{},
		validate: func(v any) error { in := v.(*candidate.Input); return in.Deployment.ValidateFor(in.ExecutionARN) }},
	"ShiftFunction": {in: deploy.ShiftInput{}, out: deploy.ShiftOutput{},
		validate: func(v any) error { in := v.(*deploy.ShiftInput); return in.Deployment.ValidateFor(in.ExecutionARN) }},
	"EvaluateFunction": {in: deploy.EvaluateInput{}, out: deploy.Verdict{},
		validate: func(v any) error { in := v.(*deploy.EvaluateInput); return in.Deployment.ValidateFor(in.ExecutionARN) }},
	"FinalizeFunction": {in: deploy.FinalizeInput{}, out: deploy.Summary{},
		validate: func(v any) error { in := v.(*deploy.FinalizeInput); return in.Deployment.ValidateFor(in.ExecutionARN) }},
	// The rollback function's state machine payload; its other inputs (the
	// alarm events) are checked in events_test.go.
	"RollbackFunction": {in: rollback.PipelineInput{}, out: rollback.Output{},
		validate: func(v any) error {
			in := v.(*rollback.PipelineInput)
			return in.Deployment.ValidateFor(in.ExecutionARN)
		}},
}

// outputValidators check a decoded function output further (scenario
// fixtures must be outputs the real functions could return).
var outputValidators = map[string]func(out any) error{
	"PreflightFunction": func(v any) error { return v.(*deploy.Record).Validate() },
}
