package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/rollback"
	"github.com/relayshift/relayshift/internal/statedoc"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// What a story expects of its deployment.
const (
	wantPromoted   = "promoted"
	wantRolledBack = "rolled back"
)

// The paths that roll a deployment back, as the demo names them.
const (
	// PathAlarm: a pipeline alarm went into ALARM, the EventBridge rule
	// delivered the state-change event to the rollback function, which
	// stopped the execution (ABORTED, error RolledBack) and restored the
	// weights.
	PathAlarm = "alarm"
	// PathEvaluate: the Evaluate function's verdict was rollback; the
	// state machine ran its Roll back state (FAILED, error RolledBack).
	PathEvaluate = "evaluate"
	// PathPipeline: another failure was caught and rolled back by the
	// state machine.
	PathPipeline = "pipeline failure"
	// PathStopped: something else stopped the execution with RolledBack.
	PathStopped = "stopped"
)

// minAfter is the fewest real requests after a story's end that can
// verify where the traffic is.
const minAfter = 10

// Story is one deployment of the demo and how it ended.
type Story struct {
	N       int
	Title   string
	Version string
	Commit  string
	// Candidate is the colour the version is released on; Stable the
	// colour that must carry all traffic at the end.
	Candidate, Stable string
	Want              string
	Faults            string

	Execution            string
	Status, Error, Cause string
	Started, Stopped     time.Time
	// Path and PathDetail say what rolled it back (rolled-back stories);
	// Alarm and AlarmAt name the alarm that did, and when it fired.
	Path, PathDetail string
	Alarm            string
	AlarmAt          time.Time
	// Restored is when the rollback had put the traffic back and read it
	// back; End is when the story's deployment was over for the traffic
	// (Stopped, or Restored when later).
	Restored, End time.Time
	// Weights are the listener's, read through the ELBv2 API at the end.
	Weights    *deploy.Weights
	WeightsErr string
	// During are the requests started between Started and End, by colour;
	// After the real requests started after End (a settling moment later).
	During map[string]loadgen.Stats
	After  []loadgen.Outcome
	// Onset is the first production request the candidate served;
	// LastOnCandidate the last one started before the rollback.
	Onset, LastOnCandidate time.Time
	// Err is what stopped the story before it ended (a failed call, an
	// interrupt).
	Err error

	Problems []string
}

// Duration is the execution's duration.
func (s *Story) Duration() time.Duration {
	if s.Started.IsZero() || s.Stopped.IsZero() {
		return 0
	}
	return s.Stopped.Sub(s.Started)
}

// OnsetToStable is the time from the first production request the faulty
// candidate served to the rollback's verified restore (0 when it does not
// apply).
func (s *Story) OnsetToStable() time.Duration {
	if s.Onset.IsZero() || s.Restored.IsZero() || s.Restored.Before(s.Onset) {
		return 0
	}
	return s.Restored.Sub(s.Onset)
}

// Result says how the deployment ended, in words.
func (s *Story) Result() string {
	switch {
	case s.Err != nil && s.Status == "":
		return "did not end"
	case s.Status == "SUCCEEDED":
		return fmt.Sprintf("promoted, %s 100%%", s.Candidate)
	case s.Error == string(deploy.RolledBack):
		switch s.Path {
		case PathAlarm:
			return "rolled back by the alarm"
		case PathEvaluate:
			return "rolled back by the evaluation"
		}
		return "rolled back (" + s.Path + ")"
	case s.Status == string(deploy.Running):
		return "still running"
	}
	return strings.ToLower(s.Status) + " " + s.Error
}

// judge checks the story ended as expected, and records every problem.
func (s *Story) judge() {
	s.Problems = nil
	bad := func(format string, args ...any) { s.Problems = append(s.Problems, fmt.Sprintf(format, args...)) }
	if s.Err != nil {
		bad("%v", s.Err)
	}
	if s.Status == "" {
		return
	}
	switch s.Want {
	case wantPromoted:
		if s.Status != "SUCCEEDED" {
			bad("the execution ended %s (%s), want SUCCEEDED: %s was not promoted", s.Status, s.Error, s.Version)
		}
	case wantRolledBack:
		if s.Error != string(deploy.RolledBack) {
			bad("the execution ended %s (%s), want error RolledBack: %s was not rolled back", s.Status, s.Error, s.Version)
		} else if s.Path != PathAlarm && s.Path != PathEvaluate {
			bad("%s was rolled back by %q, not by the alarm or the canary's evaluation: %s", s.Version, s.Path, s.PathDetail)
		}
	}
	switch {
	case s.WeightsErr != "":
		bad("could not read the listener's weights through the ELBv2 API: %s", s.WeightsErr)
	case s.Weights == nil:
		bad("the listener's weights were not read")
	default:
		if c, ok := s.Weights.Sole(); !ok || string(c) != s.Stable {
			bad("ELBv2 DescribeListeners: weights %s, want all traffic on %s", s.Weights, s.Stable)
		}
	}
	if len(s.After) < minAfter {
		bad("only %d real requests after the end to verify the traffic (want %d or more)", len(s.After), minAfter)
		return
	}
	wrong, failed := 0, 0
	for _, o := range s.After {
		if o.Colour != s.Stable {
			wrong++
		}
		if o.Failed() || o.Status != http.StatusOK {
			failed++
		}
	}
	if wrong > 0 {
		bad("%d of %d real requests after the end were not served by %s (colour header)", wrong, len(s.After), s.Stable)
	}
	if failed > 0 {
		bad("%d of %d real requests after the end did not succeed", failed, len(s.After))
	}
}

// rolledBack says what rolled an execution back.
type rolledBack struct {
	// Path is PathAlarm, PathEvaluate, PathPipeline or PathStopped; Detail
	// a sentence about it.
	Path, Detail string
	// Restored is when the traffic was back on the stable colour, as the
	// rollback read it back.
	Restored time.Time
	// Alarm and AlarmAt name the alarm and when it went into ALARM (alarm
	// path).
	Alarm   string
	AlarmAt time.Time
}

// rollbackPath names what rolled an execution back, from its outcome
// (DescribeExecution), its history (the state document its Roll back
// state saw) and the rollback function's answer to EventBridge that it
// restored the execution's traffic (restored: the lab's Restored) — never
// from what the demo meant to happen.
func rollbackPath(det stepfn.Detail, history []stepfn.Event, restored func(executionARN string) (eventbus.Delivery, rollback.Output, bool)) rolledBack {
	if det.Error != string(deploy.RolledBack) {
		return rolledBack{}
	}
	if det.Status == "ABORTED" {
		// The alarm path: the restore stopped the execution, on an alarm.
		if d, o, ok := restored(det.ARN); ok && o.Stopped && o.Trigger.Kind == "alarm" {
			r := rolledBack{Path: PathAlarm, Restored: d.Delivered, Alarm: o.Trigger.AlarmName,
				Detail: fmt.Sprintf("alarm %s went into ALARM; EventBridge rule %s delivered the state-change event to %s, which stopped the execution and restored %s (was %s)",
					o.Trigger.AlarmName, d.Rule, d.Function, o.After, o.Before)}
			var ev alarmevent.Event
			if json.Unmarshal(d.Event, &ev) == nil {
				r.AlarmAt = ev.Detail.State.Timestamp.Time
			}
			return r
		}
		return rolledBack{Path: PathStopped, Detail: "StopExecution with RolledBack, but no alarm event to the rollback function stopped it: " + clip(det.Cause, 200)}
	}
	// The state machine rolled back itself: find the task exit that wrote
	// $.rollback, and the document it saw.
	for i := len(history) - 1; i >= 0; i-- {
		e := history[i]
		if e.Type != "TaskStateExited" {
			continue
		}
		doc := statedoc.Parse(e.Output)
		if _, ok := doc["rollback"]; !ok {
			continue
		}
		var v deploy.Verdict
		if json.Unmarshal(doc["verdict"], &v) == nil && v.Verdict == "rollback" {
			var sh deploy.ShiftOutput
			_ = json.Unmarshal(doc["shift"], &sh)
			return rolledBack{Path: PathEvaluate, Restored: e.Time,
				Detail: fmt.Sprintf("the evaluation at %d%% on the candidate decided rollback: %s; the state machine's Roll back state restored the stable colour", sh.Percent, strings.Join(v.Reasons, "; "))}
		}
		var caught struct{ Error, Cause string }
		_ = json.Unmarshal(doc["error"], &caught)
		return rolledBack{Path: PathPipeline, Restored: e.Time, Detail: fmt.Sprintf("%s: %s", caught.Error, clip(stepfn.CauseMessage(caught.Cause), 200))}
	}
	return rolledBack{Path: PathPipeline, Restored: det.Stopped, Detail: clip(stepfn.CauseMessage(det.Cause), 200)}
}

// summary prints the closing table.
func summary(w io.Writer, stories []*Story, total []loadgen.Outcome, skipped int, took time.Duration) {
	fmt.Fprintf(w, "\nSummary (%s in all)\n\n", took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORY\tVERSION\tRESULT\tDURATION\tBLUE REQ/FAILED\tGREEN REQ/FAILED\tFAULT ONSET -> ALL ON STABLE")
	for _, s := range stories {
		dur, onset := "-", "-"
		if d := s.Duration(); d > 0 {
			dur = d.Round(100 * time.Millisecond).String()
		}
		if d := s.OnsetToStable(); d > 0 {
			onset = d.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.N, s.Title, s.Version, s.Result(), dur,
			reqFailed(s.During["blue"]), reqFailed(s.During["green"]), onset)
	}
	tw.Flush()
	by := loadgen.ByColour(total)
	st := loadgen.Summarise(total)
	fmt.Fprintf(w, "\nLoad: %d requests in all, %d failed (blue %s, green %s); p50 %s, p99 %s; %d not sent (concurrency cap).\n",
		st.Requests, st.Failures, reqFailed(by["blue"]), reqFailed(by["green"]), ms(st.P50), ms(st.P99), skipped)
	fmt.Fprintln(w, "Requests are counted per story from the execution's start to its end (for a rollback: to the verified restore), by the colour header.")
}

func reqFailed(s loadgen.Stats) string {
	return fmt.Sprintf("%d / %d", s.Requests, s.Failures)
}
