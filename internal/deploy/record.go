package deploy

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Record is the deployment record Preflight writes under $.preflight. It is
// the source of truth for the rest of the execution and for rollback, read
// back from the execution state; listener tags mirror it for people.
type Record struct {
	ID           string  `json:"id"`
	ExecutionARN string  `json:"executionArn"`
	Version      string  `json:"version"`
	Image        string  `json:"image"`
	Commit       string  `json:"commit"`
	Stable       Colour  `json:"stable"`
	Candidate    Colour  `json:"candidate"`
	Before       Weights `json:"before"`
	// StableHealthy is how many healthy targets the stable colour had when
	// Preflight ran (0 when unknown). Rollback compares it with the stable
	// colour's health when it restores.
	StableHealthy int       `json:"stableHealthy"`
	Plan          Plan      `json:"plan"`
	DryRun        bool      `json:"dryRun"`
	Resumed       bool      `json:"resumed"`
	StartedAt     time.Time `json:"startedAt"`
}

// ValidateFor checks a Record a task received together with its
// execution's ARN ($$.Execution.Id): the record must be valid and belong to
// that execution.
func (r Record) ValidateFor(executionARN string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if executionARN != r.ExecutionARN {
		return Errorf(InvalidInput, "executionArn %q does not match the deployment record's %q", executionARN, r.ExecutionARN)
	}
	return nil
}

// Validate checks a Record received from the state machine.
func (r Record) Validate() error {
	switch {
	case r.ID == "":
		return Errorf(InvalidInput, "deployment record has no id")
	case !r.Stable.Valid() || r.Candidate != r.Stable.Other():
		return Errorf(InvalidInput, "deployment record: stable %q and candidate %q must be blue and green", r.Stable, r.Candidate)
	case r.Before.Validate() != nil:
		return Errorf(InvalidInput, "deployment record: before: %v", r.Before.Validate())
	case r.StableHealthy < 0:
		return Errorf(InvalidInput, "deployment record: stableHealthy %d is negative", r.StableHealthy)
	}
	if err := ValidateExecutionARN(r.ExecutionARN); err != nil {
		return err
	}
	if err := r.Plan.Validate(); err != nil {
		return Errorf(InvalidInput, "deployment record: %v", err)
	}
	return nil
}

// Listener tags mirroring the record for people looking at the console.
const (
	TagDeployment = "relayshift:deployment"
	TagExecution  = "relayshift:execution"
	TagStable     = "relayshift:stable"
	TagBefore     = "relayshift:before"
	TagVersion    = "relayshift:version"
	// TagStableHealthy mirrors Record.StableHealthy.
	TagStableHealthy = "relayshift:stable-healthy"
)

// deploymentTags are the tags that mirror one deployment: cleared when it
// is restored or finalized.
func deploymentTags() []string {
	return []string{TagDeployment, TagExecution, TagBefore, TagStableHealthy}
}

// stableFromTags reads the stable colour and the weights before the
// deployment from the tags Preflight wrote; false unless they describe all
// traffic on that colour.
func stableFromTags(tags map[string]string) (Colour, Weights, bool) {
	stable := Colour(tags[TagStable])
	before, err := ParseWeights(tags[TagBefore])
	sole, ok := before.Sole()
	return stable, before, err == nil && ok && sole == stable
}

var executionARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]{1,80}:[^:]{1,80}$`)

// ValidateExecutionARN checks that arn names a Standard workflow execution.
func ValidateExecutionARN(arn string) error {
	if !executionARNRE.MatchString(arn) {
		return Errorf(InvalidInput, "executionArn %q is not a Step Functions execution ARN", arn)
	}
	return nil
}

// StateMachineOf returns the ARN of the state machine an execution belongs
// to: arn:...:execution:SM:NAME -> arn:...:stateMachine:SM.
func StateMachineOf(executionARN string) (string, error) {
	if err := ValidateExecutionARN(executionARN); err != nil {
		return "", err
	}
	head, rest, _ := strings.Cut(executionARN, ":execution:")
	sm, _, _ := strings.Cut(rest, ":")
	return fmt.Sprintf("%s:stateMachine:%s", head, sm), nil
}
