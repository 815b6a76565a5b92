package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// SourcePipeline is the "source" of the state machine's Catch payload.
const SourcePipeline = "pipeline"

// PipelineInput is the payload the state machine's Rollback state sends
// after a Catch: {"source": "pipeline", "executionArn", "deployment",
// "error": {"Error", "Cause"}}. It is decoded strictly.
type PipelineInput struct {
	Source       string        `json:"source"`
	ExecutionARN string        `json:"executionArn"`
	Deployment   deploy.Record `json:"deployment"`
	Error        StateError    `json:"error"`
}

// StateError is what a Catch with ResultPath $.error records.
type StateError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Actions the rollback function reports.
const (
	// ActionRestored: the stable colour carries the traffic again (the
	// write may have been a no-op if it already did).
	ActionRestored = "restored"
	// ActionStopped: the execution was stopped before it had recorded a
	// deployment, so it had moved no traffic.
	ActionStopped = "stopped"
	// ActionLeftAlone: the execution lost the lock and never moved
	// traffic; nothing was touched.
	ActionLeftAlone = "left-alone"
	// ActionNothing: no deployment to roll back.
	ActionNothing = "nothing-to-roll-back"
	// ActionIgnored: the event is not for the pipeline (foreign source,
	// another alarm, a transition into OK or INSUFFICIENT_DATA).
	ActionIgnored = "ignored"
)

// Trigger says what asked for the rollback.
type Trigger struct {
	// Kind is "alarm", "pipeline" or "unknown".
	Kind string `json:"kind"`
	// Via is "eventbridge", "alarm-action" or "state-machine".
	Via       string `json:"via"`
	AlarmName string `json:"alarmName"`
	AlarmARN  string `json:"alarmArn"`
	// State is the alarm state the event reports.
	State string `json:"state"`
	// Error and Cause are the failed state's, on the pipeline path.
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// Output is the rollback function's result, written under $.rollback.
// Every field is always present. Reason is a sentence the state machine's
// Fail state can use as its cause.
type Output struct {
	Action       string  `json:"action"`
	Reason       string  `json:"reason"`
	Trigger      Trigger `json:"trigger"`
	Deployment   string  `json:"deployment"`
	ExecutionARN string  `json:"executionArn"`
	// RecordSource is where the deployment record came from: "history",
	// "tags" or "payload".
	RecordSource string `json:"recordSource"`
	// Stable is the colour traffic was restored to.
	Stable string `json:"stable"`
	// Before are the weights found before the restore, After the weights
	// read back after it.
	Before  deploy.Weights `json:"before"`
	After   deploy.Weights `json:"after"`
	Changed bool           `json:"changed"`
	// Stopped is true when this invocation stopped the execution.
	Stopped bool `json:"stopped"`
	// StableHealthyBefore is the stable colour's healthy targets when the
	// deployment started (0: unknown); StableHealthyNow after the restore
	// (-1: could not be read).
	StableHealthyBefore int  `json:"stableHealthyBefore"`
	StableHealthyNow    int  `json:"stableHealthyNow"`
	StableDegraded      bool `json:"stableDegraded"`
	// Warnings are problems that did not stop the restore.
	Warnings  []string `json:"warnings"`
	ElapsedMs float64  `json:"elapsedMs"`
}

// Handler is the rollback function. It accepts the EventBridge "CloudWatch
// Alarm State Change" event, a CloudWatch alarm's direct Lambda action
// payload, and the state machine's Catch payload.
type Handler struct {
	Router     deploy.Router
	Targets    deploy.Targets
	Executions deploy.Executions
	// StateMachineARN is the deployment state machine whose running
	// execution an alarm rolls back.
	StateMachineARN string
	// AlarmPrefix starts the name of every pipeline alarm; other alarms
	// are ignored.
	AlarmPrefix string
	Now         func() time.Time
}

// probe is enough of any payload to tell the three shapes apart.
type probe struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
	AlarmData  json.RawMessage `json:"alarmData"`
}

// Handle routes a payload. The edge has already rejected malformed JSON
// (InvalidInput); well-formed payloads that are not for the pipeline are
// logged and ignored without touching AWS. Errors: InvalidInput (a
// pipeline payload or a CloudWatch alarm event that cannot be read), and
// those of deploy.FindToRollBack and deploy.RollBack; a failed restore is
// returned so that Lambda's asynchronous retry (or the state machine's
// Retry) runs it again, and the retry finds the stopped deployment.
func (h *Handler) Handle(ctx context.Context, log *slog.Logger, payload json.RawMessage) (Output, error) {
	start := h.Now()
	var p probe
	if err := json.Unmarshal(payload, &p); err != nil {
		// Well-formed JSON that is not an object (an array, a string).
		return h.ignore(log, start, Trigger{Kind: "unknown"}, "ignored: the payload is a JSON value that is not an event object"), nil
	}
	switch {
	case p.Source == SourcePipeline:
		return h.pipeline(ctx, log, start, payload)
	case p.Source == alarmevent.Source && p.DetailType != "":
		if p.DetailType != alarmevent.DetailTypeStateChange {
			return h.ignore(log, start, Trigger{Kind: "alarm", Via: alarmevent.ViaEventBridge},
				fmt.Sprintf("ignored: EventBridge %q event, not %q", p.DetailType, alarmevent.DetailTypeStateChange)), nil
		}
		var e alarmevent.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return Output{}, deploy.Errorf(deploy.InvalidInput, "CloudWatch alarm state change event: %w", err)
		}
		return h.alarm(ctx, log, start, e.Change())
	case p.Source == alarmevent.Source && p.AlarmData != nil:
		var a alarmevent.ActionPayload
		if err := json.Unmarshal(payload, &a); err != nil {
			return Output{}, deploy.Errorf(deploy.InvalidInput, "CloudWatch alarm action payload: %w", err)
		}
		return h.alarm(ctx, log, start, a.Change())
	}
	what := "an object without a source"
	if p.Source != "" {
		what = fmt.Sprintf("an event from source %q", p.Source)
	}
	return h.ignore(log, start, Trigger{Kind: "unknown"}, "ignored: "+what+" is neither a CloudWatch alarm event nor the pipeline's rollback payload"), nil
}

func (h *Handler) ignore(log *slog.Logger, start time.Time, tr Trigger, reason string) Output {
	out := h.output(start, tr)
	out.Action, out.Reason = ActionIgnored, reason
	log.Info("event ignored", "reason", reason, "alarm", tr.AlarmName, "state", tr.State, "via", tr.Via)
	return out
}

func (h *Handler) output(start time.Time, tr Trigger) Output {
	return Output{Trigger: tr, Warnings: []string{}, ElapsedMs: ms(h.Now().Sub(start))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// alarm handles an alarm state change: only a pipeline alarm going into
// ALARM rolls back.
// NOTE: the direct Lambda action of a composite alarm whose actions a
// suppressor held back arrives as ALARM -> ALARM once the wait ends (the
// documented composite sample), so the state is what counts, not the
// transition; a repeated ALARM is harmless because the rollback is
// idempotent.
func (h *Handler) alarm(ctx context.Context, log *slog.Logger, start time.Time, c alarmevent.Change) (Output, error) {
	tr := Trigger{Kind: "alarm", Via: c.Via, AlarmName: c.AlarmName, AlarmARN: c.AlarmARN, State: c.State.Value}
	if err := c.Validate(); err != nil {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "%v", err)
	}
	if !strings.HasPrefix(c.AlarmName, h.AlarmPrefix) {
		return h.ignore(log, start, tr, fmt.Sprintf("ignored: alarm %q is not a pipeline alarm (they start with %q)", c.AlarmName, h.AlarmPrefix)), nil
	}
	if c.State.Value != alarmevent.StateAlarm {
		return h.ignore(log, start, tr, fmt.Sprintf("ignored: alarm %s went into %s, not ALARM", c.AlarmName, c.State.Value)), nil
	}
	log = log.With("alarm", c.AlarmName)
	why := fmt.Sprintf("alarm %s went into ALARM", c.AlarmName)
	if c.State.Reason != "" {
		why += " (" + clip(c.State.Reason, 300) + ")"
	}

	d, found, err := deploy.FindToRollBack(ctx, h.Executions, h.Router, h.StateMachineARN)
	out := h.output(start, tr)
	switch {
	case err != nil && found && errors.Is(err, deploy.ErrNoRecord):
		// The holder has not passed Preflight: it moved no traffic. Stop
		// it so it does not start moving traffic while a pipeline alarm
		// is in ALARM.
		stopped, serr := deploy.StopIfRunning(ctx, log, h.Executions, d.Execution, "relayshift stopped the deployment: "+why)
		if serr != nil {
			return Output{}, serr
		}
		out.Action, out.ExecutionARN, out.Stopped = ActionStopped, d.Execution.ARN, stopped
		out.Reason = fmt.Sprintf("%s: execution %s had not recorded its deployment yet (it moved no traffic); stopped it", why, d.Execution.Name)
		out.ElapsedMs = ms(h.Now().Sub(start))
		log.Warn("stopped a deployment before it moved traffic", "execution", d.Execution.Name, "reason", out.Reason)
		return out, nil
	case err != nil:
		return Output{}, err
	case !found:
		out.Action = ActionNothing
		out.Reason = why + ": no deployment is running; nothing to roll back"
		log.Info("nothing to roll back", "reason", out.Reason)
		return out, nil
	}
	cause := fmt.Sprintf("relayshift rolled back deployment %s: %s", d.Record.ID, why)
	res, err := deploy.StopAndRestore(ctx, log, h.Executions, h.Router, d, cause)
	if err != nil {
		return Output{}, err
	}
	out.RecordSource = d.Source
	return h.restored(ctx, log, start, out, d.Record, res, why), nil
}

// pipeline handles the state machine's Catch payload.
func (h *Handler) pipeline(ctx context.Context, log *slog.Logger, start time.Time, payload json.RawMessage) (Output, error) {
	var in PipelineInput
	if err := deploy.DecodeStrict(payload, &in); err != nil {
		return Output{}, deploy.Errorf(deploy.InvalidInput, "rollback pipeline payload: %w", err)
	}
	rec := in.Deployment
	if err := rec.ValidateFor(in.ExecutionARN); err != nil {
		return Output{}, err
	}
	if in.Error.Error == "" {
		return Output{}, deploy.Errorf(deploy.InvalidInput, `rollback pipeline payload: "error" must carry the caught Error`)
	}
	// The cause is the function's error document on AWS (its errorMessage
	// starts with the error name: deploy.Error's text), or plain text.
	cause := strings.TrimPrefix(stepfn.CauseMessage(in.Error.Cause), in.Error.Error+": ")
	tr := Trigger{Kind: "pipeline", Via: "state-machine", Error: in.Error.Error, Cause: clip(cause, 1000)}
	log = log.With("deployment", rec.ID)
	why := fmt.Sprintf("deployment %s failed with %s", rec.ID, in.Error.Error)
	if c := strings.TrimSpace(cause); c != "" {
		why += " (" + clip(c, 300) + ")"
	}
	res, err := deploy.RestoreIfHolder(ctx, log, h.Executions, h.Router, rec)
	if err != nil {
		return Output{}, err
	}
	out := h.output(start, tr)
	out.RecordSource = "payload"
	if res.Skipped != "" {
		out.Action, out.Deployment, out.ExecutionARN, out.Stable = ActionLeftAlone, rec.ID, rec.ExecutionARN, string(rec.Stable)
		out.StableHealthyBefore, out.StableHealthyNow = rec.StableHealthy, -1
		out.Reason = why + "; traffic left alone: " + res.Skipped
		out.ElapsedMs = ms(h.Now().Sub(start))
		log.Info("rollback leaves traffic alone", "reason", out.Reason)
		return out, nil
	}
	return h.restored(ctx, log, start, out, rec, res, why), nil
}

// restored completes the output of a restore: it checks the stable
// colour's health against the record (loudly, without undoing anything),
// and logs the one summary line.
func (h *Handler) restored(ctx context.Context, log *slog.Logger, start time.Time, out Output, rec deploy.Record, res deploy.RolledBackResult, why string) Output {
	out.Action, out.Deployment, out.ExecutionARN, out.Stable = ActionRestored, rec.ID, rec.ExecutionARN, string(rec.Stable)
	out.Before, out.After, out.Changed, out.Stopped = res.Restored.From, res.Restored.To, res.Restored.Changed, res.Stopped
	elapsed := h.Now().Sub(start)
	out.ElapsedMs = ms(elapsed)

	done := fmt.Sprintf("restored %s (from %s to %s)", rec.Stable, res.Restored.From, res.Restored.To)
	switch {
	case rec.DryRun:
		done = "dry run: nothing to restore"
	case !res.Restored.Changed:
		done = fmt.Sprintf("%s already carried the traffic (%s)", rec.Stable, res.Restored.To)
	}
	if res.Stopped {
		done = "stopped the execution and " + done
	}
	out.Reason = why + "; " + done

	out.StableHealthyBefore, out.StableHealthyNow = rec.StableHealthy, -1
	if !rec.DryRun && h.Targets != nil {
		health, err := h.Targets.Health(ctx, rec.Stable)
		if err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("could not read stable %s's target health after the restore: %v", rec.Stable, err))
			log.Warn("could not read the stable colour's health", "colour", rec.Stable, "error", err)
		} else {
			out.StableHealthyNow = health.Healthy
			if rec.StableHealthy > 0 && health.Healthy < rec.StableHealthy {
				out.StableDegraded = true
				msg := fmt.Sprintf("STABLE COLOUR DEGRADED: %s now has %d healthy targets, fewer than the %d it had before the deployment; traffic was restored to it anyway, check its capacity now",
					rec.Stable, health.Healthy, rec.StableHealthy)
				out.Warnings = append(out.Warnings, msg)
				out.Reason += "; WARNING: " + msg
				log.Error("stable colour degraded", "colour", rec.Stable, "healthy_now", health.Healthy,
					"healthy_before", rec.StableHealthy, "deployment", rec.ID)
			}
		}
	}
	log.Info("rolled back", "deployment", rec.ID, "before", res.Restored.From.String(), "after", res.Restored.To.String(),
		"changed", res.Restored.Changed, "stopped", res.Stopped, "elapsed_ms", out.ElapsedMs,
		"trigger", out.Trigger.Kind, "stable_degraded", out.StableDegraded)
	return out
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
