package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/statedoc"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// execSource renders an execution's history, read through the Step
// Functions API (GetExecutionHistory), as the CLI's deploy --wait does: a
// line per state entered, and under a task the facts it wrote into the
// state document, read by statedoc (so nothing depends on the state names).
// Unlike the CLI it shows every failed attempt, and how long a bake lasts at
// the lab's time scale.
type execSource struct {
	label string
	hist  *stepfn.History
	// scale is the lab's time scale, to say how long a bake really lasts.
	scale float64

	doc   statedoc.Reader
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
	found := x.doc.Event(e)
	switch {
	case e.Type == "ExecutionStarted":
		return "execution started: " + statedoc.Started(e.Input)
	case e.Terminal():
		x.ended = true
		switch e.Type {
		case "ExecutionSucceeded":
			return "■ execution SUCCEEDED"
		case "ExecutionAborted":
			return fmt.Sprintf("■ execution ABORTED by StopExecution: %s\n%s", e.Error, clip(e.Cause, 200))
		}
		return fmt.Sprintf("■ execution %s: %s\n%s", strings.ToUpper(strings.TrimPrefix(e.Type, "Execution")), e.Error,
			clip(statedoc.Caught{Error: e.Error, Cause: e.Cause}.Message(), 200))
	case e.Entered():
		text := "▸ " + e.State
		if d, bake, ok := x.doc.Bake(x.doc.Doc()); e.Type == "WaitStateEntered" && ok {
			text += fmt.Sprintf("  %s (%s here)", bake, time.Duration(float64(d)*x.scale).Round(100*time.Millisecond))
		}
		return text
	case e.Failed():
		return "  ✗ " + clip(statedoc.Failure(e.Error, e.Cause), 300)
	case e.Type == "TaskStateExited":
		var facts []string
		for _, f := range found {
			facts = append(facts, "  "+clip(f.Text, 400))
		}
		return strings.Join(facts, "\n")
	}
	return ""
}
