package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

const rollbackUsage = `
Usage:
  relayshift rollback [--reason R]
  relayshift rollback --to blue|green [--yes]

With a deployment running, rolls it back the way the rollback function
does: stops its execution (error RolledBack, your reason in the cause) so
that no further shift starts, then puts the listener back on the weights the
deployment found, verified by reading them back. A shift already running
when the execution stops restores the weights itself.

With no deployment running, --to forces all traffic onto one colour - for
example back to the previous release after a promotion - after asking for
confirmation on stdin, unless --yes.
`

func rollbackMore() string {
	return helpText(text(`
Environment (rollback):
  GITHUB_ACTOR, USER                 who is named in the stopped execution's cause
`), configHelp, text(`
Exit codes:
  0  rolled back (or the traffic was already where asked)
  1  usage or configuration error, nothing to roll back without --to, or not confirmed; nothing was changed
  3  an AWS call failed (the output says what was done before it)
`))
}

func rollbackCommand() Command {
	return Command{Name: "rollback", Summary: "roll back the running deployment, or force traffic onto one colour", Run: runRollback}
}

// rollbackView is what rollback did; --output json prints it.
type rollbackView struct {
	// Action is "rolled_back" (a running deployment), "stopped" (a
	// deployment that had not moved traffic yet), "forced" (--to) or
	// "unchanged".
	Action       string                   `json:"action"`
	Deployment   string                   `json:"deployment,omitempty"`
	ExecutionARN string                   `json:"executionArn,omitempty"`
	Cause        string                   `json:"cause,omitempty"`
	Result       *deploy.RolledBackResult `json:"result,omitempty"`
	Before       deploy.Weights           `json:"before"`
	Weights      deploy.Weights           `json:"weights"`
}

func runRollback(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "rollback", rollbackUsage, rollbackMore())
	reason := fs.String("reason", "", "why; recorded in the stopped execution's cause")
	to := fs.String("to", "", "with no deployment running: put all traffic on this colour (blue or green)")
	yes := fs.Bool("yes", false, "do not ask for confirmation (--to)")
	output := fs.String("output", "text", "text or json")
	verbose := fs.Bool("verbose", false, "log each step to stderr")
	cf := addConfigFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		return failf(env, "rollback", ExitUsage, "--output %q: want text or json", *output)
	}
	toColour := deploy.Colour(strings.ToLower(strings.TrimSpace(*to)))
	if *to != "" && !toColour.Valid() {
		return failf(env, "rollback", ExitUsage, "--to %q: want blue or green", *to)
	}
	t, err := cf.resolve(ctx, env, keyStateMachine, keyListener, keyBlue, keyGreen)
	if err != nil {
		return failf(env, "rollback", codeOf(err), "%v", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	r := &rollbacker{
		env: env, t: t, router: newRouter(t), ctl: stepfn.NewControl(sfn.NewFromConfig(t.AWS)), out: env.Stdout,
		log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if *output == "json" {
		r.out = env.Stderr // stdout carries the JSON only
	}
	v, code := r.run(ctx, *reason, toColour, *yes)
	if code != ExitOK && v.Action == "" {
		return code
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
	return code
}

type rollbacker struct {
	env    *Env
	out    io.Writer
	t      target
	router deploy.Router
	ctl    *stepfn.Control
	log    *slog.Logger
}

func (r *rollbacker) say(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *rollbacker) run(ctx context.Context, reason string, to deploy.Colour, yes bool) (rollbackView, int) {
	rd, running, err := deploy.FindRunning(ctx, r.ctl, r.router, r.t.StateMachineARN)
	switch {
	case running && errors.Is(err, deploy.ErrNoRecord):
		return r.stopUnrecorded(ctx, rd.Execution, reason)
	case err != nil:
		return rollbackView{}, failf(r.env, "rollback", ExitFailed, "%v", err)
	case running:
		if to != "" && to != rd.Record.Stable {
			return rollbackView{}, failf(r.env, "rollback", ExitUsage,
				"deployment %s is running and its stable colour is %s: rolling it back puts traffic on %s, not %s (omit --to)",
				rd.Execution.Name, rd.Record.Stable, rd.Record.Stable, to)
		}
		return r.rollBack(ctx, rd, reason)
	case to == "":
		w, err := r.router.Weights(ctx)
		if err != nil {
			return rollbackView{}, failf(r.env, "rollback", ExitFailed, "%v", err)
		}
		hint := "use --to blue or --to green to put all traffic on one colour"
		if c, ok := w.Sole(); ok {
			hint = fmt.Sprintf("%s carries all traffic; to go back to %s: relayshift rollback --to %s", c, c.Other(), c.Other())
		}
		return rollbackView{}, failf(r.env, "rollback", ExitUsage, "no deployment is running; the listener is at %s. %s", w, hint)
	}
	return r.force(ctx, to, yes)
}

// cause is the StopExecution cause: who, with what, why.
func (r *rollbacker) cause(reason string) string {
	who := r.env.getenv("GITHUB_ACTOR")
	if who == "" {
		who = r.env.getenv("USER")
	}
	if who == "" {
		who = "unknown"
	}
	if reason == "" {
		reason = "no reason given"
	}
	return fmt.Sprintf("manual rollback by %s (relayshift rollback): %s", who, reason)
}

// rollBack is the rollback function's restore path: stop, then restore.
func (r *rollbacker) rollBack(ctx context.Context, rd deploy.RunningDeployment, reason string) (rollbackView, int) {
	cause := r.cause(reason)
	v := rollbackView{Action: "rolled_back", Deployment: rd.Record.ID, ExecutionARN: rd.Execution.ARN, Cause: cause}
	if v.Deployment == "" {
		v.Deployment = rd.Execution.Name
	}
	res, err := deploy.StopAndRestore(ctx, r.log, r.ctl, r.router, rd, cause)
	v.Result = &res
	if res.Stopped {
		r.say("stopped execution %s (RolledBack: %s)", rd.Execution.Name, cause)
	}
	if err != nil {
		return v, failf(r.env, "rollback", ExitFailed, "restore %s: %v", rd.Record.Before, err)
	}
	v.Before, v.Weights = res.Restored.From, res.Restored.To
	if res.Restored.Changed {
		r.say("traffic restored to %s (was %s); %s is stable again", res.Restored.To, res.Restored.From, rd.Record.Stable)
	} else {
		r.say("traffic already on %s; %s is stable", res.Restored.To, rd.Record.Stable)
	}
	if rd.Source == "tags" {
		r.say("note: the deployment record came from the listener's tags (the execution's history holds none)")
	}
	return v, ExitOK
}

// stopUnrecorded stops a deployment that has not recorded itself yet: it
// has not passed Preflight, so it has moved no traffic.
func (r *rollbacker) stopUnrecorded(ctx context.Context, x deploy.Execution, reason string) (rollbackView, int) {
	cause := r.cause(reason)
	v := rollbackView{Action: "stopped", Deployment: x.Name, ExecutionARN: x.ARN, Cause: cause}
	if err := r.ctl.Stop(ctx, x.ARN, string(deploy.RolledBack), cause); err != nil {
		return v, failf(r.env, "rollback", ExitFailed, "%v", err)
	}
	r.say("stopped execution %s (RolledBack: %s)", x.Name, cause)
	w, err := r.router.Weights(ctx)
	if err != nil {
		return v, failf(r.env, "rollback", ExitFailed, "%v", err)
	}
	v.Before, v.Weights = w, w
	r.say("it had not passed Preflight, so it moved no traffic; the listener is at %s", w)
	return v, ExitOK
}

// force puts all traffic on colour to, with no deployment running.
func (r *rollbacker) force(ctx context.Context, to deploy.Colour, yes bool) (rollbackView, int) {
	want := deploy.Split(to, 0)
	cur, err := r.router.Weights(ctx)
	if err != nil {
		return rollbackView{}, failf(r.env, "rollback", ExitFailed, "%v", err)
	}
	v := rollbackView{Action: "unchanged", Before: cur, Weights: cur}
	if c, ok := cur.Sole(); ok && c == to {
		r.say("%s already carries all traffic (%s); nothing to do", to, cur)
		return v, ExitOK
	}
	h, err := r.router.(deploy.Targets).Health(ctx, to)
	if err != nil {
		return rollbackView{}, failf(r.env, "rollback", ExitFailed, "%v", err)
	}
	if !yes {
		fmt.Fprintf(r.env.Stderr, "The listener is at %s. Send all traffic to %s (%s)?\n", cur, to, healthText(h))
		if h.Healthy == 0 {
			fmt.Fprintf(r.env.Stderr, "WARNING: %s has no healthy targets.\n", to)
		}
		fmt.Fprint(r.env.Stderr, "Type yes to continue: ")
		line, _ := bufio.NewReader(r.env.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			return rollbackView{}, failf(r.env, "rollback", ExitUsage, "not confirmed; nothing was changed")
		}
	} else if h.Healthy == 0 {
		fmt.Fprintf(r.env.Stderr, "relayshift rollback: WARNING: %s has no healthy targets (%s)\n", to, healthText(h))
	}
	r.log.Info("forcing weights", "from", cur.String(), "to", want.String())
	before, err := r.router.SetWeights(ctx, want)
	if err != nil {
		return rollbackView{}, failf(r.env, "rollback", ExitFailed, "%v", err)
	}
	v = rollbackView{Action: "forced", Before: before, Weights: want}
	tags := map[string]string{deploy.TagStable: string(to)}
	if err := r.router.Tag(ctx, tags, []string{deploy.TagDeployment, deploy.TagExecution, deploy.TagBefore}); err != nil {
		fmt.Fprintf(r.env.Stderr, "relayshift rollback: warning: could not update the listener tags: %v\n", err)
	}
	r.say("traffic moved to %s: %s (was %s), verified", to, want, before)
	return v, ExitOK
}
