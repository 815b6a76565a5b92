package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// execSource renders an execution's history, read through the Step
// Functions API (GetExecutionHistory), as the CLI's deploy --wait does: a
// line per state entered, and under a task the facts it wrote into the
// state document (docs/architecture.md), so nothing depends on the state
// names.
type execSource struct {
	label string
	hist  *stepfn.History
	// scale is the lab's time scale, to say how long a bake really lasts.
	scale float64

	doc   map[string]json.RawMessage
	rec   *deploy.Record
	ended bool
}

func (x *execSource) poll(ctx context.Context, _ time.Time) []line {
	if x.ended {
		return nil
	}
	evs, err := x.hist.Next(ctx)
	if err != nil {
		return nil // read again at the next tick
	}
	var out []line
	for _, e := range evs {
		if text := x.render(e); text != "" {
			out = append(out, line{at: e.Time, who: x.label, text: text})
		}
	}
	return out
}

func (x *execSource) render(e stepfn.Event) string {
	switch {
	case e.Type == "ExecutionStarted":
		x.doc = parseDoc(e.Input)
		var req deploy.Request
		_ = json.Unmarshal([]byte(e.Input), &req)
		text := "execution started: version " + req.Version
		if req.Commit != "" {
			text += ", commit " + req.Commit
		}
		if req.Strategy != nil {
			text += ", strategy " + req.Strategy.Name()
		}
		return text
	case e.Terminal():
		x.ended = true
		switch e.Type {
		case "ExecutionSucceeded":
			return "■ execution SUCCEEDED"
		case "ExecutionAborted":
			return fmt.Sprintf("■ execution ABORTED by StopExecution: %s\n%s", e.Error, clip(e.Cause, 200))
		}
		return fmt.Sprintf("■ execution %s: %s\n%s", strings.ToUpper(strings.TrimPrefix(e.Type, "Execution")), e.Error, clip(causeMessage(e.Cause), 200))
	case e.Entered():
		x.doc = parseDoc(e.Input)
		text := "▸ " + e.State
		if e.Type == "WaitStateEntered" {
			text += x.bake()
		}
		return text
	case e.Failed():
		return fmt.Sprintf("  ✗ %s: %s", e.Error, clip(causeMessage(e.Cause), 300))
	case e.Type == "TaskStateExited":
		out := parseDoc(e.Output)
		var facts []string
		for _, k := range changedKeys(x.doc, out) {
			if f := x.fact(k, out[k]); f != "" {
				facts = append(facts, "  "+f)
			}
		}
		x.doc = out
		return strings.Join(facts, "\n")
	}
	return ""
}

// bake describes a Wait whose document carries a shift: the bake at that
// step, in AWS time and as it lasts here.
func (x *execSource) bake() string {
	var s deploy.ShiftOutput
	if json.Unmarshal(x.doc["shift"], &s) != nil || s.Percent <= 0 || s.BakeSeconds <= 0 {
		return ""
	}
	d := time.Duration(s.BakeSeconds) * time.Second
	return fmt.Sprintf("  %s at %d%% on the candidate (%s here)", d, s.Percent, time.Duration(float64(d)*x.scale).Round(100*time.Millisecond))
}

// fact renders what a task wrote under key.
func (x *execSource) fact(key string, raw json.RawMessage) string {
	switch key {
	case "preflight":
		var r deploy.Record
		if json.Unmarshal(raw, &r) != nil || !r.Stable.Valid() {
			break
		}
		x.rec = &r
		return fmt.Sprintf("stable %s (%s), candidate %s; plan %s", r.Stable, r.Before, r.Candidate, planText(r.Plan))
	case "release":
		var r ecsrelease.Output
		if json.Unmarshal(raw, &r) != nil {
			break
		}
		text := fmt.Sprintf("release mode %s: %s", r.Mode, r.Status)
		if r.Message != "" {
			text += " (" + r.Message + ")"
		}
		return text
	case "health":
		var h candidate.HealthOutput
		if json.Unmarshal(raw, &h) != nil {
			break
		}
		return fmt.Sprintf("%d of %d %s targets healthy; %s answers %d on the test route; %d models listed",
			h.Targets.Healthy, h.Targets.Total, h.Colour, h.HealthPath, h.HealthStatus, h.ModelsListed)
	case "warmup":
		var w candidate.WarmupOutput
		if json.Unmarshal(raw, &w) != nil {
			break
		}
		verdict := "passed"
		if !w.Passed {
			verdict = "FAILED"
		}
		return fmt.Sprintf("warm-up %s: %d chat completions (plain and streamed) on the test route in %.0fms", verdict, w.Requests, w.DurationMs)
	case "shift":
		var s deploy.ShiftOutput
		if json.Unmarshal(raw, &s) != nil {
			break
		}
		if s.Weights.Blue+s.Weights.Green == 0 {
			return "" // the loop's {"next": 0}
		}
		step := strconv.Itoa(s.Step + 1)
		if x.rec != nil {
			step += "/" + strconv.Itoa(len(x.rec.Plan.Steps))
		}
		share := fmt.Sprintf("%d%% on the candidate", s.Percent)
		if x.rec != nil {
			share = fmt.Sprintf("%s %d%%", x.rec.Candidate, s.Percent)
		}
		return fmt.Sprintf("weights %s: %s (step %s, read back from the listener)", s.Weights, share, step)
	case "verdict":
		var v deploy.Verdict
		if json.Unmarshal(raw, &v) != nil || v.Verdict == "" {
			break
		}
		return fmt.Sprintf("verdict %s: %s", v.Verdict, strings.Join(v.Reasons, "; "))
	case "error":
		var e struct{ Error, Cause string }
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			break
		}
		return fmt.Sprintf("caught %s: %s", e.Error, clip(causeMessage(e.Cause), 300))
	case "rollback":
		var r struct {
			Action, Reason string
			Before, After  deploy.Weights
			Changed        bool
		}
		if json.Unmarshal(raw, &r) != nil {
			break
		}
		if r.Changed {
			return fmt.Sprintf("rollback %s: %s (was %s)", r.Action, r.After, r.Before)
		}
		return fmt.Sprintf("rollback %s: %s", r.Action, r.Reason)
	case "summary":
		var s deploy.Summary
		if json.Unmarshal(raw, &s) != nil || s.To == "" {
			break
		}
		return fmt.Sprintf("%s promoted to %s (%s)", s.Version, s.To, s.Weights)
	}
	return key + " " + clip(string(raw), 200)
}

func planText(p deploy.Plan) string {
	var pct []string
	for _, s := range p.Steps {
		pct = append(pct, strconv.Itoa(s.Percent)+"%")
	}
	text := p.Strategy + " " + strings.Join(pct, " -> ")
	if n := len(p.Steps); n > 0 {
		if n > 1 {
			text += fmt.Sprintf(", bake %s", time.Duration(p.Steps[0].BakeSeconds)*time.Second)
		}
		text += fmt.Sprintf(", %s after promotion", time.Duration(p.Steps[n-1].BakeSeconds)*time.Second)
	}
	return text
}

// parseDoc reads a state document's top-level keys.
func parseDoc(s string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

// changedKeys lists the keys whose value differs, in the pipeline's order.
func changedKeys(before, after map[string]json.RawMessage) []string {
	order := []string{"preflight", "release", "health", "warmup", "shift", "verdict", "error", "rollback", "summary"}
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if !bytes.Equal(compact(before[k]), compact(after[k])) {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		if i := slices.Index(order, k); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(keys, func(a, b string) int { return rank(a) - rank(b) })
	return keys
}

func compact(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// causeMessage returns the errorMessage of a Lambda error document (what
// Step Functions puts in a caught lambda:invoke failure's Cause), or the
// cause itself.
func causeMessage(cause string) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &doc) == nil && doc.ErrorMessage != "" {
		return doc.ErrorMessage
	}
	return cause
}
