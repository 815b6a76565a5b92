package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// DefaultPostPromotionBakeSeconds is how long the candidate is watched at
// 100% before the final evaluation, unless the request says otherwise.
const DefaultPostPromotionBakeSeconds = 300

// Request is the execution input CI sends (events/start-deployment.json is
// the canonical example). Unknown fields are rejected.
type Request struct {
	// Version names the release (required).
	Version string `json:"version"`
	// Image is the container image to release on the candidate colour;
	// required unless the release mode is external.
	Image string `json:"image,omitempty"`
	// Commit is the source commit, part of the deployment id.
	Commit string `json:"commit,omitempty"`
	// Strategy is a preset name or a custom object; empty means the
	// configured default.
	Strategy *Strategy `json:"strategy,omitempty"`
	// PostPromotionBakeSeconds overrides DefaultPostPromotionBakeSeconds.
	PostPromotionBakeSeconds *int `json:"postPromotionBakeSeconds,omitempty"`
	// DryRun computes and reports everything without changing anything.
	DryRun bool `json:"dryRun,omitempty"`
}

var (
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	commitRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	imageRE   = regexp.MustCompile(`^[a-z0-9][A-Za-z0-9._/:@+-]{0,510}$`)
)

// Validate checks the request. imageRequired is false when the release mode
// is external (another system updates the candidate).
func (r Request) Validate(imageRequired bool) error {
	if r.Version == "" {
		return Errorf(InvalidInput, `"version" is required`)
	}
	if !versionRE.MatchString(r.Version) {
		return Errorf(InvalidInput, "version %q: want 1-64 of A-Z a-z 0-9 . _ + -, starting with a letter or digit", r.Version)
	}
	if r.Commit != "" && !commitRE.MatchString(r.Commit) {
		return Errorf(InvalidInput, "commit %q: want 1-64 of A-Z a-z 0-9 . _ -", r.Commit)
	}
	switch {
	case r.Image == "" && imageRequired:
		return Errorf(InvalidInput, `"image" is required when the release mode is ecs`)
	case r.Image != "" && !imageRE.MatchString(r.Image):
		return Errorf(InvalidInput, "image %q is not a container image reference", r.Image)
	}
	if r.Strategy != nil {
		if err := r.Strategy.Validate(); err != nil {
			return Errorf(InvalidInput, "%v", err)
		}
	}
	if b := r.PostPromotionBakeSeconds; b != nil && (*b < 0 || *b > MaxBakeSeconds) {
		return Errorf(InvalidInput, "postPromotionBakeSeconds %d outside 0-%d", *b, MaxBakeSeconds)
	}
	return nil
}

// Plan returns the request's plan, using def when it names no strategy.
func (r Request) Plan(def Strategy) (Plan, error) {
	s := def
	if r.Strategy != nil {
		s = *r.Strategy
	}
	bake := DefaultPostPromotionBakeSeconds
	if r.PostPromotionBakeSeconds != nil {
		bake = *r.PostPromotionBakeSeconds
	}
	p, err := s.Plan(bake)
	if err != nil {
		return Plan{}, Errorf(InvalidInput, "%v", err)
	}
	return p, nil
}

// maxNameLen is Step Functions' limit on execution names.
const maxNameLen = 80

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9._+=@-]+`)

// DeploymentID derives the deployment's id from the service, version and
// commit. The CLI names the execution with it, so starting the same
// deployment twice attaches to one execution.
// NOTE: execution names are 1-80 characters without whitespace, brackets,
// wildcards, control characters or any of " # % \ ^ | ~ ` $ & , ; : / (Step
// Functions StartExecution reference); we keep a conservative character set
// and shorten long ids with a hash so they stay unique.
func DeploymentID(service, version, commit string) string {
	parts := []string{service, version}
	if commit != "" {
		parts = append(parts, commit[:min(len(commit), 12)])
	}
	id := strings.Trim(nameUnsafe.ReplaceAllString(strings.Join(parts, "-"), "-"), "-")
	if len(id) > maxNameLen {
		sum := sha256.Sum256([]byte(strings.Join([]string{service, version, commit}, "\x00")))
		id = id[:maxNameLen-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return id
}

// ValidateServiceName checks the configured service name, which starts every
// deployment id.
func ValidateServiceName(s string) error {
	if !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`).MatchString(s) {
		return fmt.Errorf("service name %q: want 1-32 of A-Z a-z 0-9 _ -, starting with a letter or digit", s)
	}
	return nil
}
