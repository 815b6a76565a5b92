package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// progress renders an execution's history as it grows: one line per state
// transition that says something (a task's result, a bake, a failure), with
// the time elapsed since the execution started. On a terminal it also keeps
// one status line at the bottom (current state, bake countdown, elapsed
// time), rewritten in place at each poll; elsewhere (a CI log) it writes
// plain lines only.
//
// It reads AWS history events only (stepfn.Event): a task's facts come from
// the keys its state exit added or changed in the state document
// (docs/architecture.md: $.preflight, $.shift, $.verdict, $.rollback, ...),
// so it does not depend on the state names beyond printing them.
type progress struct {
	w     io.Writer
	tty   bool
	color bool
	now   func() time.Time

	start   time.Time
	doc     map[string]json.RawMessage
	cur     current
	lastOut map[string]string
	f       facts
	status  bool
	frame   int
}

// current is the state the execution is in.
type current struct {
	name, typ string
	since     time.Time
	attempts  int
	// failure is the last failure line printed for this state, and repeats
	// counts identical failures since.
	failure string
	repeats int
	bake    time.Duration
}

// facts are what the history said, for the final report.
type facts struct {
	Record   *deploy.Record
	Shift    *deploy.ShiftOutput
	Weights  *deploy.Weights
	Verdict  *verdictOut
	Caught   *caughtError
	Rollback *rollbackOut
	Summary  *deploy.Summary
	// Failure is the last task failure seen.
	Failure *caughtError
	// Terminal is the event that ended the execution, if seen.
	Terminal *stepfn.Event
}

// verdictOut is the part of Evaluate's output ($.verdict) the CLI reads.
type verdictOut struct {
	Verdict string            `json:"verdict"`
	Reasons []json.RawMessage `json:"reasons"`
}

// caughtError is a task failure: the state, the error name and the
// message.
type caughtError struct {
	State, Error, Message string
}

// rollbackOut is the part of the Rollback state's output ($.rollback) the
// CLI reads.
type rollbackOut struct {
	Reason   string           `json:"reason"`
	Restored *deploy.Restored `json:"restored"`
	Stopped  bool             `json:"stopped"`
	Skipped  string           `json:"skipped"`
	Warning  string           `json:"warning"`
	Warnings []string         `json:"warnings"`
}

func newProgress(w io.Writer, tty, color bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, color: color, now: now, doc: map[string]json.RawMessage{}, lastOut: map[string]string{}}
}

// stamp renders the time from the execution's start to t.
func (p *progress) stamp(t time.Time) string {
	if p.start.IsZero() || t.Before(p.start) {
		return "[00:00]"
	}
	return "[" + clock(t.Sub(p.start)) + "]"
}

// clock renders d as mm:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// span renders a duration for people: 5m0s, 45s, 1h30m0s.
func span(d time.Duration) string {
	return d.Round(time.Second).String()
}

// line prints one permanent line, clearing the status line first.
func (p *progress) line(t time.Time, label, text string) {
	p.clearStatus()
	fmt.Fprintf(p.w, "%s %-17s %s\n", p.stamp(t), label, text)
}

func (p *progress) clearStatus() {
	if p.status {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.status = false
	}
}

// events renders a batch of new events.
func (p *progress) events(evs []stepfn.Event) {
	for _, e := range evs {
		p.event(e)
	}
}

func (p *progress) event(e stepfn.Event) {
	switch {
	case e.Type == "ExecutionStarted":
		p.start = e.Time
		p.doc = parseDoc(e.Input)
		p.line(e.Time, "Started", startedFacts(e.Input))
	case e.Terminal():
		ev := e
		p.f.Terminal = &ev
	case e.Entered():
		p.cur = current{name: e.State, typ: strings.TrimSuffix(e.Type, "StateEntered"), since: e.Time}
		p.doc = parseDoc(e.Input)
		if p.cur.typ == "Wait" {
			p.enteredWait(e)
		}
	case e.Type == "TaskScheduled" || e.Type == "LambdaFunctionScheduled":
		p.cur.attempts++
	case e.Failed():
		p.failed(e)
	case e.Exited():
		p.exited(e)
	}
}

// enteredWait prints a bake: a Wait state entered with a shift in the
// document (the Wait's SecondsPath reads $.shift.bakeSeconds). Other waits
// (the release poll) only show on the status line.
func (p *progress) enteredWait(e stepfn.Event) {
	var s deploy.ShiftOutput
	if json.Unmarshal(p.doc["shift"], &s) != nil || s.BakeSeconds <= 0 || s.Percent <= 0 {
		return
	}
	p.cur.bake = time.Duration(s.BakeSeconds) * time.Second
	text := fmt.Sprintf("%s at %s", span(p.cur.bake), p.share(s))
	if s.Last {
		text += ", after promotion"
	}
	p.line(e.Time, e.State, text)
}

// share renders the candidate's share of traffic for a shift.
func (p *progress) share(s deploy.ShiftOutput) string {
	if p.f.Record != nil {
		return fmt.Sprintf("%s %d%%", p.f.Record.Candidate, s.Percent)
	}
	return fmt.Sprintf("%d%% (%s)", s.Percent, s.Weights)
}

func (p *progress) failed(e stepfn.Event) {
	msg := causeMessage(e.Cause)
	p.f.Failure = &caughtError{State: p.cur.name, Error: e.Error, Message: msg}
	text := e.Error
	if msg != "" {
		text += ": " + msg
	}
	if text == p.cur.failure {
		p.cur.repeats++
		return // the same failure again (a retry): the status line counts attempts
	}
	p.cur.failure, p.cur.repeats = text, 0
	if p.cur.attempts > 1 {
		text += fmt.Sprintf(" (attempt %d)", p.cur.attempts)
	}
	p.line(e.Time, p.cur.name, "failed: "+text)
}

// exited renders what a state wrote into the document.
func (p *progress) exited(e stepfn.Event) {
	out := parseDoc(e.Output)
	var parts []string
	for _, k := range changedKeys(p.doc, out) {
		if s := p.fact(k, out[k]); s != "" {
			parts = append(parts, s)
		}
	}
	p.doc = out
	typ := strings.TrimSuffix(e.Type, "StateExited")
	if typ != "Task" {
		return
	}
	if _, caught := out["error"]; caught && len(parts) == 0 {
		return // the failure was printed when it happened
	}
	text := strings.Join(parts, "; ")
	if text == "" {
		text = "done"
	}
	if p.lastOut[e.State] == text {
		return // a poll (release status) that found nothing new
	}
	p.lastOut[e.State] = text
	if p.cur.attempts > 1 {
		text += fmt.Sprintf(" (attempt %d)", p.cur.attempts)
	}
	p.line(e.Time, e.State, text)
}

// keyOrder is the order facts are printed in when a state writes several
// keys: the state document's keys in pipeline order.
func keyOrder() []string {
	return []string{"preflight", "release", "health", "warmup", "shift", "verdict", "error", "rollback", "summary"}
}

func changedKeys(before, after map[string]json.RawMessage) []string {
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if !bytes.Equal(compact(before[k]), compact(after[k])) {
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b string) int { return rank(a) - rank(b) })
	return keys
}

func rank(k string) int {
	order := keyOrder()
	if i := slices.Index(order, k); i >= 0 {
		return i
	}
	return len(order)
}

func compact(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// fact renders the value a state wrote under key, and remembers it.
func (p *progress) fact(key string, raw json.RawMessage) string {
	switch key {
	case "preflight":
		var r deploy.Record
		if json.Unmarshal(raw, &r) != nil || !r.Stable.Valid() {
			return generic(raw)
		}
		p.f.Record = &r
		w := r.Before
		p.f.Weights = &w
		return recordFacts(r)
	case "shift":
		var s deploy.ShiftOutput
		if json.Unmarshal(raw, &s) != nil {
			return generic(raw)
		}
		if s.Weights.Blue+s.Weights.Green == 0 {
			return "" // the loop's initial {"next": 0}
		}
		p.f.Shift = &s
		if !s.DryRun {
			w := s.Weights
			p.f.Weights = &w
		}
		return p.shiftFacts(s)
	case "verdict":
		var v verdictOut
		if json.Unmarshal(raw, &v) != nil || v.Verdict == "" {
			return generic(raw)
		}
		p.f.Verdict = &v
		return v.String()
	case "error":
		var ce struct{ Error, Cause string }
		if json.Unmarshal(raw, &ce) == nil && ce.Error != "" {
			p.f.Caught = &caughtError{State: p.cur.name, Error: ce.Error, Message: causeMessage(ce.Cause)}
		}
		return ""
	case "rollback":
		var r rollbackOut
		if json.Unmarshal(raw, &r) != nil {
			return generic(raw)
		}
		p.f.Rollback = &r
		if r.Restored != nil && !r.Restored.To.Same(deploy.Weights{}) {
			w := r.Restored.To
			p.f.Weights = &w
		}
		return r.String()
	case "summary":
		var s deploy.Summary
		if json.Unmarshal(raw, &s) != nil || s.To == "" {
			return generic(raw)
		}
		p.f.Summary = &s
		w := s.Weights
		p.f.Weights = &w
		return fmt.Sprintf("%s promoted to %s (%s)", s.Version, s.To, s.Weights)
	}
	return generic(raw)
}

func recordFacts(r deploy.Record) string {
	text := fmt.Sprintf("stable %s (%s), candidate %s; %s", r.Stable, r.Before, r.Candidate, planFacts(r.Plan))
	if r.Resumed {
		text += " [resumed]"
	}
	if r.DryRun {
		text += " [dry run]"
	}
	return text
}

func planFacts(p deploy.Plan) string {
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
		text += ", bake " + span(time.Duration(p.Steps[0].BakeSeconds)*time.Second)
	}
	return text + ", " + span(time.Duration(p.Steps[n-1].BakeSeconds)*time.Second) + " after promotion"
}

func (p *progress) shiftFacts(s deploy.ShiftOutput) string {
	step := fmt.Sprintf("step %d", s.Step+1)
	if p.f.Record != nil {
		step += fmt.Sprintf("/%d", len(p.f.Record.Plan.Steps))
	}
	switch {
	case s.DryRun:
		return fmt.Sprintf("%s: dry run, would set %s", step, s.Weights)
	case !s.Changed:
		return fmt.Sprintf("%s: %s, %s already", step, p.share(s), s.Weights)
	}
	return fmt.Sprintf("%s: %s, %s", step, p.share(s), s.Weights)
}

func (v verdictOut) String() string {
	reasons := v.reasons()
	if len(reasons) == 0 {
		return v.Verdict
	}
	return v.Verdict + ": " + strings.Join(reasons, "; ")
}

// reasons renders the verdict's reasons, which are strings, or objects
// with a message.
func (v verdictOut) reasons() []string {
	var out []string
	for _, r := range v.Reasons {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var m map[string]any
		if json.Unmarshal(r, &m) == nil {
			for _, k := range []string{"message", "reason", "text", "summary"} {
				if s, ok := m[k].(string); ok && s != "" {
					out = append(out, s)
					break
				}
			}
		}
	}
	return out
}

// traffic says what the rollback did to the listener.
func (r rollbackOut) traffic() string {
	switch {
	case r.Skipped != "":
		return "left alone: " + r.Skipped
	case r.Restored != nil && r.Restored.Changed:
		return fmt.Sprintf("restored to %s (was %s)", r.Restored.To, r.Restored.From)
	case r.Restored != nil:
		return fmt.Sprintf("already on %s", r.Restored.To)
	}
	return ""
}

func (r rollbackOut) String() string {
	var parts []string
	if t := r.traffic(); t != "" {
		parts = append(parts, "traffic "+t)
	}
	if r.Reason != "" {
		parts = append(parts, "reason: "+r.Reason)
	}
	if r.Warning != "" {
		parts = append(parts, "WARNING: "+r.Warning)
	}
	for _, w := range r.Warnings {
		parts = append(parts, "WARNING: "+w)
	}
	if len(parts) == 0 {
		return "done"
	}
	return strings.Join(parts, "; ")
}

// generic renders an unknown result: its scalar fields, key=value, sorted,
// or the value itself.
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

func parseDoc(s string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

// startedFacts summarises the execution input.
func startedFacts(input string) string {
	var req struct {
		Version  string          `json:"version"`
		Commit   string          `json:"commit"`
		Image    string          `json:"image"`
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
	if len(req.Strategy) > 0 {
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

// causeMessage extracts the message of a failure's cause: a Lambda error
// payload ({"errorMessage", "errorType", ...}) or plain text.
// NOTE: for the optimized Lambda integration, TaskFailed's cause is the
// function's error payload serialised as a JSON string, and error is its
// errorType (recorded AWS histories; HistoryEvent reference).
func causeMessage(cause string) string {
	var le struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &le) == nil && le.ErrorMessage != "" {
		cause = le.ErrorMessage
	}
	return oneLine(cause, 300)
}

// oneLine collapses whitespace and cuts s to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// tick redraws the status line (terminals only).
func (p *progress) tick() {
	if !p.tty {
		return
	}
	now := p.now()
	spin := `|/-\`[p.frame%4]
	p.frame++
	text := "starting"
	if p.cur.name != "" {
		in := now.Sub(p.cur.since)
		switch {
		case p.cur.typ == "Wait" && p.cur.bake > 0:
			text = fmt.Sprintf("%s: baking %s of %s", p.cur.name, span(min(in, p.cur.bake)), span(p.cur.bake))
		case p.cur.typ == "Wait":
			text = fmt.Sprintf("%s: waiting %s", p.cur.name, span(in))
		default:
			text = fmt.Sprintf("%s: running %s", p.cur.name, span(in))
			if p.cur.attempts > 1 {
				text += fmt.Sprintf(", attempt %d", p.cur.attempts)
			}
		}
	}
	if p.f.Weights != nil {
		text += " | " + p.f.Weights.String()
	}
	if !p.start.IsZero() {
		text += " | " + clock(now.Sub(p.start)) + " elapsed"
	}
	p.clearStatus()
	fmt.Fprintf(p.w, "%c %s", spin, oneLine(text, 110))
	p.status = true
}

// Colours for the result word on a terminal.
const (
	green  = "\x1b[32;1m"
	red    = "\x1b[31;1m"
	yellow = "\x1b[33;1m"
	reset  = "\x1b[0m"
)

// report prints the final block: a headline with the result word, then
// indented details.
func (p *progress) report(at time.Time, word, colour, headline string, details [][2]string) {
	label := word
	if p.color {
		label = colour + word + reset + strings.Repeat(" ", max(0, 17-len(word)))
	}
	p.clearStatus()
	fmt.Fprintf(p.w, "%s %-17s %s\n", p.stamp(at), label, headline)
	for _, d := range details {
		fmt.Fprintf(p.w, "        %-9s %s\n", d[0]+":", d[1])
	}
}
