package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits on strategies and bakes.
const (
	MaxSteps       = 20
	MaxBakeSeconds = 86400
)

// Strategy says how traffic moves to the candidate: a preset name, or a
// custom list of percentages with a bake between steps. In JSON it is either
// a string ("Canary10Percent5Minutes") or an object
// ({"steps":[5,25,50,100],"bakeSeconds":120}).
type Strategy struct {
	Preset      string `json:"-"`
	Steps       []int  `json:"steps,omitempty"`
	BakeSeconds int    `json:"bakeSeconds,omitempty"`
}

// The preset names, in the spirit of CodeDeploy's deployment configurations.
const (
	AllAtOnce                    = "AllAtOnce"
	Canary10Percent5Minutes      = "Canary10Percent5Minutes"
	Canary10Percent15Minutes     = "Canary10Percent15Minutes"
	Linear10PercentEvery1Minute  = "Linear10PercentEvery1Minute"
	Linear10PercentEvery3Minutes = "Linear10PercentEvery3Minutes"
)

// Custom is the name a Plan carries for a custom strategy.
const Custom = "Custom"

var linear10 = []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}

func preset(name string) (Strategy, bool) {
	switch name {
	case AllAtOnce:
		return Strategy{Preset: name, Steps: []int{100}}, true
	case Canary10Percent5Minutes:
		return Strategy{Preset: name, Steps: []int{10, 100}, BakeSeconds: 300}, true
	case Canary10Percent15Minutes:
		return Strategy{Preset: name, Steps: []int{10, 100}, BakeSeconds: 900}, true
	case Linear10PercentEvery1Minute:
		return Strategy{Preset: name, Steps: linear10, BakeSeconds: 60}, true
	case Linear10PercentEvery3Minutes:
		return Strategy{Preset: name, Steps: linear10, BakeSeconds: 180}, true
	}
	return Strategy{}, false
}

// Presets lists the preset names.
func Presets() []string {
	return []string{AllAtOnce, Canary10Percent5Minutes, Canary10Percent15Minutes,
		Linear10PercentEvery1Minute, Linear10PercentEvery3Minutes}
}

// ParseStrategy returns the preset called name.
func ParseStrategy(name string) (Strategy, error) {
	s, ok := preset(name)
	if !ok {
		return Strategy{}, fmt.Errorf("unknown strategy %q (presets: %s)", name, strings.Join(Presets(), ", "))
	}
	return s, nil
}

// UnmarshalJSON accepts a preset name or a custom object (strictly).
func (s *Strategy) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		p, err := ParseStrategy(name)
		if err != nil {
			return err
		}
		*s = p
		return nil
	}
	var custom struct {
		Steps       []int `json:"steps"`
		BakeSeconds *int  `json:"bakeSeconds"`
	}
	if err := DecodeStrict(b, &custom); err != nil {
		return fmt.Errorf("strategy: %w", err)
	}
	if custom.Steps == nil || custom.BakeSeconds == nil {
		return errors.New(`custom strategy needs "steps" and "bakeSeconds"`)
	}
	*s = Strategy{Steps: custom.Steps, BakeSeconds: *custom.BakeSeconds}
	return s.Validate()
}

// MarshalJSON writes a preset as its name and a custom strategy as an object.
func (s Strategy) MarshalJSON() ([]byte, error) {
	if s.Preset != "" {
		return json.Marshal(s.Preset)
	}
	type custom Strategy
	return json.Marshal(custom(s))
}

// Name is the preset name, or Custom.
func (s Strategy) Name() string {
	if s.Preset != "" {
		return s.Preset
	}
	return Custom
}

// Validate checks that the steps rise strictly from 1 to 100 and that the
// bake is within bounds.
func (s Strategy) Validate() error {
	if len(s.Steps) == 0 || len(s.Steps) > MaxSteps {
		return fmt.Errorf("strategy needs 1 to %d steps, got %d", MaxSteps, len(s.Steps))
	}
	prev := 0
	for _, p := range s.Steps {
		if p <= prev || p > 100 {
			return fmt.Errorf("strategy steps %v must rise strictly within 1-100", s.Steps)
		}
		prev = p
	}
	if prev != 100 {
		return fmt.Errorf("strategy steps %v must end at 100", s.Steps)
	}
	if s.BakeSeconds < 0 || s.BakeSeconds > MaxBakeSeconds {
		return fmt.Errorf("bakeSeconds %d outside 0-%d", s.BakeSeconds, MaxBakeSeconds)
	}
	return nil
}

// Step is one traffic step: the candidate's share of traffic, and how long
// to let it bake before the candidate is judged.
type Step struct {
	Percent     int `json:"percent"`
	BakeSeconds int `json:"bakeSeconds"`
}

// Plan is the sequence of steps a deployment takes, computed once in
// Preflight. The last step is always 100%; its bake is the post-promotion
// bake, after which the final evaluation decides.
type Plan struct {
	Strategy string `json:"strategy"`
	Steps    []Step `json:"steps"`
}

// Plan turns s into a Plan with postBake seconds after the last step.
func (s Strategy) Plan(postBake int) (Plan, error) {
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	if postBake < 0 || postBake > MaxBakeSeconds {
		return Plan{}, fmt.Errorf("postPromotionBakeSeconds %d outside 0-%d", postBake, MaxBakeSeconds)
	}
	p := Plan{Strategy: s.Name(), Steps: make([]Step, len(s.Steps))}
	for i, pct := range s.Steps {
		p.Steps[i] = Step{Percent: pct, BakeSeconds: s.BakeSeconds}
	}
	p.Steps[len(p.Steps)-1].BakeSeconds = postBake
	return p, nil
}

// Validate checks a Plan read back from the execution state.
func (p Plan) Validate() error {
	steps := make([]int, len(p.Steps))
	for i, st := range p.Steps {
		steps[i] = st.Percent
		if st.BakeSeconds < 0 || st.BakeSeconds > MaxBakeSeconds {
			return fmt.Errorf("plan step %d: bakeSeconds %d outside 0-%d", i, st.BakeSeconds, MaxBakeSeconds)
		}
	}
	return Strategy{Steps: slices.Clip(steps)}.Validate()
}
