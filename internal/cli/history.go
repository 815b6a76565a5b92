package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/stepfn"
)

const historyUsage = `
Usage:
  relayshift history [-n N] [--output text|json]

Lists the most recent deployments, newest first, whatever their status:
when each started, its id and version, its result (promoted, rolled back,
refused, failed, running), how long it took, and why it was rolled back or
failed.
`

func historyMore() string {
	return helpText(configHelp, text(`
Exit codes:
  0  listed
  1  usage or configuration error
  3  an AWS call failed
`))
}

func historyCommand() Command {
	return Command{Name: "history", Summary: "list recent deployments: version, result, duration, rollback reason", Run: runHistory}
}

// historyRow is one deployment in the list; --output json prints them.
type historyRow struct {
	Name            string     `json:"name"`
	ExecutionARN    string     `json:"executionArn"`
	Version         string     `json:"version"`
	Status          string     `json:"status"`
	Result          string     `json:"result"`
	Started         time.Time  `json:"started"`
	Stopped         *time.Time `json:"stopped,omitempty"`
	DurationSeconds float64    `json:"durationSeconds"`
	Error           string     `json:"error,omitempty"`
	Reason          string     `json:"reason,omitempty"`
}

func runHistory(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "history", historyUsage, historyMore())
	n := fs.Int("n", 10, "how many deployments to list (1-100)")
	output := fs.String("output", "text", "text or json")
	cf := addConfigFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	if *n < 1 || *n > 100 {
		return failf(env, "history", ExitUsage, "-n %d: want 1 to 100", *n)
	}
	if *output != "text" && *output != "json" {
		return failf(env, "history", ExitUsage, "--output %q: want text or json", *output)
	}
	t, err := cf.resolve(ctx, env, keyStateMachine)
	if err != nil {
		return failf(env, "history", codeOf(err), "%v", err)
	}
	ctl := stepfn.NewControl(sfn.NewFromConfig(t.AWS))
	recent, err := ctl.Recent(ctx, t.StateMachineARN, *n)
	if err != nil {
		return failf(env, "history", ExitFailed, "%v", err)
	}
	rows := make([]historyRow, 0, len(recent))
	now := env.Now()
	for _, d := range recent {
		end := d.Stopped
		if end.IsZero() {
			end = now
		}
		row := historyRow{
			Name: d.Name, ExecutionARN: d.ARN, Version: versionOf(d.Input), Status: string(d.Status),
			Result: classify(d, facts{}), Started: d.Started.UTC(), Stopped: timePtr(d.Stopped),
			DurationSeconds: end.Sub(d.Started).Round(time.Second).Seconds(), Error: d.Error,
		}
		if d.Ended() && row.Result != resultPromoted {
			row.Reason = oneLine(stepfn.CauseMessage(d.Cause), 300)
			if row.Reason == "" {
				row.Reason = d.Error
			}
		}
		rows = append(rows, row)
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return ExitOK
	}
	writeHistory(env.Stdout, rows)
	return ExitOK
}

func writeHistory(w io.Writer, rows []historyRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no deployments yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED (UTC)\tDEPLOYMENT\tVERSION\tRESULT\tDURATION\tREASON")
	for _, r := range rows {
		dur := span(time.Duration(r.DurationSeconds) * time.Second)
		if r.Result == resultRunning {
			dur += " so far"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Started.Format("2006-01-02 15:04:05"), r.Name,
			orDash(r.Version), strings.ReplaceAll(r.Result, "_", " "), dur, oneLine(r.Reason, 100))
	}
	tw.Flush()
}
