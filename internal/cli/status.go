package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

const statusUsage = `
Usage:
  relayshift status [--output text|json]

Shows, for each colour, its weight in the listener's forward action, its
share of traffic and the health of its targets; the stable colour; and the
running deployment, if any, with its current state, elapsed time and
console URL (or the last deployment when none runs).
`

func statusMore() string {
	return helpText(configHelp, text(`
Exit codes:
  0  status shown
  1  usage or configuration error
  3  an AWS call failed
`))
}

func statusCommand() Command {
	return Command{Name: "status", Summary: "show weights, target health, the stable colour and the running deployment", Run: runStatus}
}

func runStatus(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "status", statusUsage, statusMore())
	output := fs.String("output", "text", "text or json")
	cf := addConfigFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		return failf(env, "status", ExitUsage, "--output %q: want text or json", *output)
	}
	t, err := cf.resolve(ctx, env, keyStateMachine, keyListener, keyBlue, keyGreen)
	if err != nil {
		return failf(env, "status", codeOf(err), "%v", err)
	}
	router := newRouter(t)
	ctl := stepfn.NewControl(sfn.NewFromConfig(t.AWS))
	v, err := readStatus(ctx, env, router, ctl, t)
	if err != nil {
		return failf(env, "status", ExitFailed, "%v", err)
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return ExitOK
	}
	v.write(env.Stdout)
	return ExitOK
}

func newRouter(t target) *alb.Router {
	return alb.New(elbv2.NewFromConfig(t.AWS), alb.Listener{
		ListenerARN: t.ListenerARN, RuleARN: t.RuleARN, Blue: t.BlueTG, Green: t.GreenTG,
	})
}

// statusView is what status shows; --output json prints it.
type statusView struct {
	Service  string         `json:"service"`
	Listener string         `json:"listener"`
	Rule     string         `json:"rule,omitempty"`
	Weights  deploy.Weights `json:"weights"`
	Colours  []colourView   `json:"colours"`
	// Stable is the stable colour: the running deployment's, or the one
	// carrying all traffic; empty when the listener is split and no
	// deployment runs.
	Stable     string       `json:"stable"`
	Warning    string       `json:"warning,omitempty"`
	Deployment *runningView `json:"deployment"`
	Last       *lastView    `json:"lastDeployment,omitempty"`
}

type colourView struct {
	Colour  deploy.Colour `json:"colour"`
	Weight  int           `json:"weight"`
	Percent int           `json:"percent"`
	Targets deploy.Health `json:"targets"`
}

type runningView struct {
	Name           string    `json:"name"`
	ExecutionARN   string    `json:"executionArn"`
	Console        string    `json:"console"`
	Version        string    `json:"version,omitempty"`
	Stable         string    `json:"stable,omitempty"`
	Candidate      string    `json:"candidate,omitempty"`
	Strategy       string    `json:"strategy,omitempty"`
	Started        time.Time `json:"started"`
	ElapsedSeconds float64   `json:"elapsedSeconds"`
	State          string    `json:"state,omitempty"`
	StateSince     time.Time `json:"stateSince,omitzero"`
	// RecordSource is where the deployment record came from: "history",
	// "tags", or "" when Preflight has not written it yet.
	RecordSource string `json:"recordSource"`
}

type lastView struct {
	Name    string    `json:"name"`
	Status  string    `json:"status"`
	Result  string    `json:"result"`
	Started time.Time `json:"started"`
	Stopped time.Time `json:"stopped,omitzero"`
	Reason  string    `json:"reason,omitempty"`
}

func readStatus(ctx context.Context, env *Env, router *alb.Router, ctl *stepfn.Control, t target) (statusView, error) {
	v := statusView{Service: t.Service, Listener: t.ListenerARN, Rule: t.RuleARN}
	w, err := router.Weights(ctx)
	if err != nil {
		return v, err
	}
	v.Weights = w
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		h, err := router.Health(ctx, c)
		if err != nil {
			return v, err
		}
		v.Colours = append(v.Colours, colourView{Colour: c, Weight: w.Of(c), Percent: w.Percent(c), Targets: h})
	}
	rd, ok, err := deploy.FindRunning(ctx, ctl, router, t.StateMachineARN)
	if err != nil && !errors.Is(err, deploy.ErrNoRecord) {
		return v, err
	}
	if ok {
		now := env.Now()
		x := rd.Execution
		r := &runningView{
			Name: x.Name, ExecutionARN: x.ARN, Console: consoleURL(x.ARN), Started: x.Started,
			ElapsedSeconds: now.Sub(x.Started).Round(time.Second).Seconds(),
		}
		if err == nil {
			r.RecordSource = rd.Source
			r.Stable, r.Candidate = string(rd.Record.Stable), string(rd.Record.Candidate)
			r.Version, r.Strategy = rd.Record.Version, rd.Record.Plan.Strategy
			v.Stable = r.Stable
		}
		if r.Version == "" {
			if d, err := ctl.Detail(ctx, x.ARN); err == nil {
				r.Version = versionOf(d.Input)
			}
		}
		st, err := ctl.CurrentState(ctx, x.ARN)
		if err != nil {
			return v, err
		}
		r.State, r.StateSince = st.Name, st.Since
		v.Deployment = r
	} else {
		recent, err := ctl.Recent(ctx, t.StateMachineARN, 1)
		if err != nil {
			return v, err
		}
		if len(recent) == 1 {
			d := recent[0]
			v.Last = &lastView{Name: d.Name, Status: string(d.Status), Result: classify(d, facts{}),
				Started: d.Started, Stopped: d.Stopped, Reason: oneLine(stepfn.CauseMessage(d.Cause), 300)}
		}
	}
	if v.Stable == "" {
		if c, sole := w.Sole(); sole {
			v.Stable = string(c)
		} else if v.Deployment == nil {
			v.Warning = fmt.Sprintf("the listener is split (%s) and no deployment is running: put it on one colour with relayshift rollback --to blue|green", w)
		}
	}
	return v, nil
}

// versionOf reads the version from an execution input.
func versionOf(input string) string {
	var req struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal([]byte(input), &req)
	return req.Version
}

func healthText(h deploy.Health) string {
	s := fmt.Sprintf("%d/%d healthy", h.Healthy, h.Total)
	for _, c := range []struct {
		n    int
		name string
	}{{h.Initial, "initial"}, {h.Unhealthy, "unhealthy"}, {h.Draining, "draining"}, {h.Unused, "unused"}, {h.Unavailable, "unavailable"}} {
		if c.n > 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.name)
		}
	}
	if len(h.Reasons) > 0 {
		s += " (" + strings.Join(h.Reasons, ", ") + ")"
	}
	return s
}

func (v statusView) write(w io.Writer) {
	fmt.Fprintf(w, "service:    %s\nlistener:   %s\n", v.Service, v.Listener)
	if v.Rule != "" {
		fmt.Fprintf(w, "rule:       %s\n", v.Rule)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s  %6s  %7s  %s\n", "COLOUR", "WEIGHT", "TRAFFIC", "TARGETS")
	for _, c := range v.Colours {
		fmt.Fprintf(w, "%-6s  %6d  %6d%%  %s\n", c.Colour, c.Weight, c.Percent, healthText(c.Targets))
	}
	fmt.Fprintln(w)
	stable := v.Stable
	if stable == "" {
		stable = "none"
	}
	fmt.Fprintf(w, "stable:     %s\n", stable)
	if v.Warning != "" {
		fmt.Fprintf(w, "WARNING:    %s\n", v.Warning)
	}
	if d := v.Deployment; d != nil {
		fmt.Fprintf(w, "deployment: %s RUNNING for %s\n", d.Name, span(time.Duration(d.ElapsedSeconds)*time.Second))
		var what []string
		if d.Version != "" {
			what = append(what, "version "+d.Version)
		}
		if d.Stable != "" {
			what = append(what, d.Stable+" -> "+d.Candidate)
		}
		if d.Strategy != "" {
			what = append(what, d.Strategy)
		}
		if d.RecordSource == "" {
			what = append(what, "not yet past Preflight")
		}
		fmt.Fprintf(w, "  what:     %s\n", strings.Join(what, ", "))
		if d.State != "" {
			fmt.Fprintf(w, "  state:    %s, entered %s\n", d.State, d.StateSince.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  started:  %s\n  console:  %s\n", d.Started.UTC().Format(time.RFC3339), d.Console)
		return
	}
	fmt.Fprintf(w, "deployment: none running\n")
	if l := v.Last; l != nil {
		fmt.Fprintf(w, "  last:     %s %s (%s), started %s\n", l.Name, l.Status, strings.ReplaceAll(l.Result, "_", " "), l.Started.UTC().Format(time.RFC3339))
		if l.Reason != "" {
			fmt.Fprintf(w, "  reason:   %s\n", l.Reason)
		}
	}
}
