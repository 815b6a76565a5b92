package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/statedoc"
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
// the keys its state exit added or changed in the state document, read by
// statedoc as the functions' own output types, so it does not depend on the
// state names beyond printing them.
type progress struct {
	w     io.Writer
	tty   bool
	color bool
	now   func() time.Time

	start   time.Time
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
	// failure is the last failure line printed for this state.
	failure string
	bake    time.Duration
}

// facts are what the history said, for the final report.
type facts struct {
	// Reader follows the state document and holds its values (the
	// record, the last shift, verdict, rollback, summary).
	statedoc.Reader
	// Weights are the listener's weights as the history last showed them:
	// the record's, then each shift's, then the rollback's or the
	// summary's.
	Weights *deploy.Weights
	// Caught is the last failure a Catch recorded, with the state whose
	// failure it was.
	Caught *caughtError
}

// caughtError is a caught task failure and the state that failed.
type caughtError struct {
	State string
	statedoc.Caught
}

// labelWidth fits the longest state name of the definition ("Check
// candidate health", "Unknown release status").
const labelWidth = 22

func newProgress(w io.Writer, tty, color bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, color: color, now: now, lastOut: map[string]string{}}
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
	fmt.Fprintf(p.w, "%s %-*s %s\n", p.stamp(t), labelWidth, label, text)
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
	found := p.f.Event(e)
	switch {
	case e.Type == "ExecutionStarted":
		p.start = e.Time
		p.line(e.Time, "Started", statedoc.Started(e.Input))
	case e.Entered():
		p.cur = current{name: e.State, typ: strings.TrimSuffix(e.Type, "StateEntered"), since: e.Time}
		if p.cur.typ == "Wait" {
			p.enteredWait(e)
		}
	case e.Type == "TaskScheduled" || e.Type == "LambdaFunctionScheduled":
		p.cur.attempts++
	case e.Failed():
		p.failed(e)
	case e.Exited():
		p.exited(e, found)
	}
}

// enteredWait prints a bake: a Wait state entered with a shift in the
// document (the bake states read $.shift.bakeSeconds). Other waits (the
// release poll, a hold) only show on the status line.
func (p *progress) enteredWait(e stepfn.Event) {
	d, text, ok := p.f.Bake(p.f.Doc())
	if !ok {
		return
	}
	p.cur.bake = d
	p.line(e.Time, e.State, text)
}

func (p *progress) failed(e stepfn.Event) {
	text := statedoc.Failure(e.Error, e.Cause)
	if text == p.cur.failure {
		return // the same failure again (a retry): the status line counts attempts
	}
	p.cur.failure = text
	if p.cur.attempts > 1 {
		text += fmt.Sprintf(" (attempt %d)", p.cur.attempts)
	}
	p.line(e.Time, p.cur.name, "failed: "+oneLine(text, 300))
}

// exited renders what a task state wrote into the document, and remembers
// what the final report needs.
func (p *progress) exited(e stepfn.Event, found []statedoc.Fact) {
	var parts []string
	caught := false
	for _, fc := range found {
		p.remember(fc.Key)
		if fc.Key == statedoc.Error {
			caught = true
			continue // the failure was printed when it happened
		}
		parts = append(parts, fc.Text)
	}
	if !strings.HasPrefix(e.Type, "Task") || (caught && len(parts) == 0) {
		return
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

// remember keeps what a key the history just wrote says about the
// listener's weights and the failure caught (nothing when it did not
// decode as its type).
func (p *progress) remember(key string) {
	v := &p.f.Values
	var w *deploy.Weights
	switch {
	case key == statedoc.Preflight && v.Record != nil:
		w = &v.Record.Before
	case key == statedoc.Shift && v.Shift != nil && !v.Shift.DryRun:
		w = &v.Shift.Weights
	case key == statedoc.Rollback && v.Rollback != nil && v.Rollback.Action == rollback.ActionRestored:
		w = &v.Rollback.After
	case key == statedoc.Summary && v.Summary != nil:
		w = &v.Summary.Weights
	case key == statedoc.Error && v.Error != nil:
		p.f.Caught = &caughtError{State: p.cur.name, Caught: *v.Error}
	}
	if w != nil {
		c := *w
		p.f.Weights = &c
	}
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
		label = colour + word + reset + strings.Repeat(" ", max(0, labelWidth-len(word)))
	}
	p.clearStatus()
	fmt.Fprintf(p.w, "%s %-*s %s\n", p.stamp(at), labelWidth, label, headline)
	for _, d := range details {
		fmt.Fprintf(p.w, "        %-9s %s\n", d[0]+":", d[1])
	}
}
