package statedoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relayshift/relayshift/internal/candidate"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/ecsrelease"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// The keys of the state document the functions and the definition write
// (ResultPath), with the Go type each holds.
const (
	Preflight = "preflight" // deploy.Record
	Release   = "release"   // ecsrelease.Output
	Health    = "health"    // candidate.HealthOutput
	Warmup    = "warmup"    // candidate.WarmupOutput
	Shift     = "shift"     // deploy.ShiftOutput ({"next": 0} before the first shift)
	Verdict   = "verdict"   // deploy.Verdict
	Error     = "error"     // Caught
	Rollback  = "rollback"  // rollback.Output
	Summary   = "summary"   // deploy.Summary
)

// Keys returns the keys in pipeline order, the order facts are listed in
// when a state changes several.
func Keys() []string {
	return []string{Preflight, Release, Health, Warmup, Shift, Verdict, Error, Rollback, Summary}
}

// Doc is a state document: its top-level keys and their raw values.
type Doc map[string]json.RawMessage

// Parse reads a state document; anything that is not a JSON object reads
// as an empty one.
func Parse(s string) Doc {
	d := Doc{}
	if json.Unmarshal([]byte(s), &d) != nil {
		return Doc{}
	}
	return d
}

// Changed returns the keys whose value differs from before to after, in
// pipeline order (keys the pipeline does not write come last, sorted).
func Changed(before, after Doc) []string {
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if !bytes.Equal(compact(before[k]), compact(after[k])) {
			keys = append(keys, k)
		}
	}
	order := Keys()
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

// Caught is what a Catch with ResultPath $.error records, and what the
// definition's Pass states that stand for a failure ("Verdict is rollback",
// "Unknown release status", "Unexpected verdict") write there: the shape
// the rollback function decodes ({"Error", "Cause"}).
type Caught rollback.StateError

// String renders the failure: Failure(Error, Cause).
func (c Caught) String() string { return Failure(c.Error, c.Cause) }

// Message returns the cause's message without the error name it starts
// with: the handler edge sends deploy.Error's text, "Code: message", as a
// function's errorMessage.
func (c Caught) Message() string {
	msg := stepfn.CauseMessage(c.Cause)
	if c.Error == "" {
		return msg
	}
	return strings.TrimPrefix(msg, c.Error+": ")
}

// Failure renders a failure's error name and cause as "Error: message",
// naming the error once (Caught.Message).
func Failure(errName, cause string) string {
	msg := Caught{Error: errName, Cause: cause}.Message()
	switch {
	case msg == "":
		return errName
	case errName == "":
		return msg
	}
	return errName + ": " + msg
}

// Values are the typed values of the document's keys read so far; a nil
// field has not been read, or its latest value did not decode as its type.
type Values struct {
	Record  *deploy.Record
	Release *ecsrelease.Output
	Health  *candidate.HealthOutput
	Warmup  *candidate.WarmupOutput
	// Shift is the latest step; the shift loop's initial {"next": 0}
	// leaves it as it was.
	Shift    *deploy.ShiftOutput
	Verdict  *deploy.Verdict
	Error    *Caught
	Rollback *rollback.Output
	Summary  *deploy.Summary
}

// Read decodes the value a state wrote under key into v and returns what
// it says in one line: "" when it says nothing (the shift loop's {"next":
// 0}), its scalar fields when the key is not the pipeline's or the value
// does not decode as the key's type.
func (v *Values) Read(key string, raw json.RawMessage) string {
	if text, ok := v.read(key, raw); ok {
		return text
	}
	v.forget(key)
	return key + ": " + generic(raw)
}

// forget clears the value of key, which did not decode as its type.
func (v *Values) forget(key string) {
	switch key {
	case Preflight:
		v.Record = nil
	case Release:
		v.Release = nil
	case Health:
		v.Health = nil
	case Warmup:
		v.Warmup = nil
	case Shift:
		v.Shift = nil
	case Verdict:
		v.Verdict = nil
	case Error:
		v.Error = nil
	case Rollback:
		v.Rollback = nil
	case Summary:
		v.Summary = nil
	}
}

func (v *Values) read(key string, raw json.RawMessage) (string, bool) {
	switch key {
	case Preflight:
		var r deploy.Record
		if json.Unmarshal(raw, &r) != nil || !r.Stable.Valid() {
			return "", false
		}
		v.Record = &r
		return recordFact(r), true
	case Release:
		var r ecsrelease.Output
		if json.Unmarshal(raw, &r) != nil || r.Status == "" {
			return "", false
		}
		v.Release = &r
		text := fmt.Sprintf("mode %s, %s", r.Mode, r.Status)
		if r.Message != "" {
			text += ": " + r.Message
		}
		return text, true
	case Health:
		var h candidate.HealthOutput
		if json.Unmarshal(raw, &h) != nil || !h.Colour.Valid() {
			return "", false
		}
		v.Health = &h
		text := fmt.Sprintf("%d of %d %s targets healthy", h.Targets.Healthy, h.Targets.Total, h.Colour)
		if h.HealthStatus != 0 {
			text += fmt.Sprintf("; GET %s answered %d on the test route", h.HealthPath, h.HealthStatus)
		}
		return text + "; the relay lists " + count(h.ModelsListed, "model"), true
	case Warmup:
		var w candidate.WarmupOutput
		if json.Unmarshal(raw, &w) != nil || !w.Colour.Valid() {
			return "", false
		}
		v.Warmup = &w
		return warmupFact(w), true
	case Shift:
		var s deploy.ShiftOutput
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		if s.Weights == (deploy.Weights{}) {
			return "", true // the loop's initial {"next": 0}
		}
		v.Shift = &s
		return v.shiftFact(s), true
	case Verdict:
		var d deploy.Verdict
		if json.Unmarshal(raw, &d) != nil || d.Verdict == "" {
			return "", false
		}
		v.Verdict = &d
		if len(d.Reasons) == 0 {
			return "verdict " + d.Verdict, true
		}
		return "verdict " + d.Verdict + ": " + strings.Join(d.Reasons, "; "), true
	case Error:
		var c Caught
		if json.Unmarshal(raw, &c) != nil || c.Error == "" {
			return "", false
		}
		v.Error = &c
		return "caught " + c.String(), true
	case Rollback:
		var r rollback.Output
		if json.Unmarshal(raw, &r) != nil || r.Action == "" {
			return "", false
		}
		v.Rollback = &r
		return rollbackFact(r), true
	case Summary:
		var s deploy.Summary
		if json.Unmarshal(raw, &s) != nil || s.To == "" {
			return "", false
		}
		v.Summary = &s
		if s.DryRun {
			return fmt.Sprintf("dry run of %s finished; traffic unchanged (%s)", s.Version, s.Weights), true
		}
		return fmt.Sprintf("%s promoted to %s (%s)", s.Version, s.To, s.Weights), true
	}
	return "", false
}

// Fact is what a state wrote under Key, in one line.
type Fact struct {
	Key, Text string
}

// Reader follows the state document through an execution's history
// events, oldest first, and keeps the Values read from it.
type Reader struct {
	Values
	doc Doc
}

// Doc returns the document as the last event left it: the input of the
// state entered last, or the output of the state exited last.
func (r *Reader) Doc() Doc { return r.doc }

// Event takes the next history event: the execution's start and a state's
// entry set the document from their input; a state's exit returns the
// facts of the keys it changed (Changed, Values.Read), without those that
// say nothing.
func (r *Reader) Event(e stepfn.Event) []Fact {
	switch {
	case e.Type == string(types.HistoryEventTypeExecutionStarted), e.Entered():
		r.doc = Parse(e.Input)
	case e.Exited():
		out := Parse(e.Output)
		var facts []Fact
		for _, k := range Changed(r.doc, out) {
			if text := r.Read(k, out[k]); text != "" {
				facts = append(facts, Fact{Key: k, Text: text})
			}
		}
		r.doc = out
		return facts
	}
	return nil
}

// recordFact renders Preflight's record.
func recordFact(r deploy.Record) string {
	text := fmt.Sprintf("stable %s (%s), candidate %s; plan %s", r.Stable, r.Before, r.Candidate, planFact(r.Plan))
	if r.Resumed {
		text += " [resumed]"
	}
	if r.DryRun {
		text += " [dry run]"
	}
	return text
}

// planFact renders a plan: its steps (the first two and the last when
// there are more than four), the bake between steps and the one after
// promotion.
func planFact(p deploy.Plan) string {
	n := len(p.Steps)
	if n == 0 {
		return p.Strategy
	}
	var pct []string
	for _, s := range p.Steps {
		pct = append(pct, strconv.Itoa(s.Percent)+"%")
	}
	if n > 4 {
		pct = []string{pct[0], pct[1], "...", pct[n-1]}
	}
	text := p.Strategy + " " + strings.Join(pct, " -> ")
	if n > 1 {
		text += ", bake " + span(p.Steps[0].BakeSeconds)
	}
	return text + ", " + span(p.Steps[n-1].BakeSeconds) + " after promotion"
}

func span(seconds int) string { return (time.Duration(seconds) * time.Second).String() }

// warmupFact renders the warm-up's result.
func warmupFact(w candidate.WarmupOutput) string {
	streams := 0
	for _, m := range w.Models {
		streams += m.Streams
	}
	result := "passed"
	if !w.Passed {
		result = "FAILED"
	}
	return fmt.Sprintf("warm-up %s: %s (%d streamed) to %s through the test route in %s", result, count(w.Requests, "request"), streams,
		count(len(w.Models), "model"), (time.Duration(w.DurationMs * float64(time.Millisecond))).Round(time.Millisecond))
}

// Share renders the candidate's share of traffic at a shift: "green 10%",
// or "10% on the candidate" before the record is known.
func (v *Values) Share(s deploy.ShiftOutput) string {
	if v.Record != nil {
		return fmt.Sprintf("%s %d%%", v.Record.Candidate, s.Percent)
	}
	return fmt.Sprintf("%d%% on the candidate", s.Percent)
}

func (v *Values) shiftFact(s deploy.ShiftOutput) string {
	step := fmt.Sprintf("step %d", s.Step+1)
	if v.Record != nil {
		step += fmt.Sprintf("/%d", len(v.Record.Plan.Steps))
	}
	switch {
	case s.DryRun:
		return fmt.Sprintf("%s: dry run, would set %s (%s)", step, v.Share(s), s.Weights)
	case !s.Changed:
		return fmt.Sprintf("%s: %s (%s), already set", step, v.Share(s), s.Weights)
	}
	return fmt.Sprintf("%s: %s (%s), read back from the listener", step, v.Share(s), s.Weights)
}

// Bake returns the bake a Wait state entered with doc stands for: the
// shift in the document, when it carries a share of traffic and a bake
// (the Wait states that read $.shift.bakeSeconds), and how it reads:
// "5m0s at green 10%", ", after promotion" for the last step.
func (v *Values) Bake(doc Doc) (time.Duration, string, bool) {
	var s deploy.ShiftOutput
	if json.Unmarshal(doc[Shift], &s) != nil || s.BakeSeconds <= 0 || s.Percent <= 0 {
		return 0, "", false
	}
	d := time.Duration(s.BakeSeconds) * time.Second
	text := fmt.Sprintf("%s at %s", d, v.Share(s))
	if s.Last {
		text += ", after promotion"
	}
	return d, text, true
}

// rollbackFact renders the rollback function's output: what happened to
// the traffic, and its warnings. Its reason is the execution's cause (the
// Fail state's CausePath), shown where the execution's end is.
func rollbackFact(r rollback.Output) string {
	parts := []string{"traffic " + Traffic(r)}
	if r.Stopped {
		parts = append(parts, "stopped the execution")
	}
	for _, w := range r.Warnings {
		parts = append(parts, "WARNING: "+w)
	}
	return strings.Join(parts, "; ")
}

// Traffic says what a rollback did to the traffic, from its action and the
// weights it found and left: "restored to blue=100,green=0 (was
// blue=90,green=10)", "already on ...", "left alone: ...".
func Traffic(r rollback.Output) string {
	switch r.Action {
	case rollback.ActionRestored:
		if r.Changed {
			return fmt.Sprintf("restored to %s (was %s)", r.After, r.Before)
		}
		return fmt.Sprintf("already on %s", r.After)
	case rollback.ActionLeftAlone:
		return "left alone: this execution lost the listener's lock and never moved traffic"
	case rollback.ActionStopped:
		return "unchanged: the execution was stopped before it recorded a deployment"
	}
	return r.Action + ": " + r.Reason
}

// Started renders an execution input (deploy.Request).
func Started(input string) string {
	var req struct {
		Version  string          `json:"version"`
		Commit   string          `json:"commit"`
		Strategy json.RawMessage `json:"strategy"`
		DryRun   bool            `json:"dryRun"`
	}
	if json.Unmarshal([]byte(input), &req) != nil || req.Version == "" {
		return "input " + oneLine(input, 100)
	}
	parts := []string{"version " + req.Version}
	if req.Commit != "" {
		parts = append(parts, "commit "+req.Commit)
	}
	if len(req.Strategy) > 0 && string(req.Strategy) != "null" {
		var name string
		if json.Unmarshal(req.Strategy, &name) != nil {
			name = string(compact(req.Strategy))
		}
		parts = append(parts, "strategy "+name)
	}
	if req.DryRun {
		parts = append(parts, "dry run")
	}
	return strings.Join(parts, ", ")
}

// generic renders a value it has no type for: its scalar fields,
// key=value, sorted, at most six; or the value itself.
func generic(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return oneLine(string(compact(raw)), 120)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k].(type) {
		case string:
			if v != "" {
				parts = append(parts, k+"="+oneLine(v, 60))
			}
		case float64:
			parts = append(parts, k+"="+strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			if v {
				parts = append(parts, k)
			}
		}
		if len(parts) == 6 {
			break
		}
	}
	return strings.Join(parts, " ")
}

// count renders n things: "1 model", "3 models".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// oneLine collapses whitespace and cuts s to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
