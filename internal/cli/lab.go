package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/relayshift/relayshift/internal/lab"
)

func labCommand() Command {
	return Command{Name: "lab", Summary: "run the whole application on this machine: ALB, AWS APIs, alarms, functions", Run: runLab}
}

const labMore = `Configuration: lab.yaml (see docs/local-testing.md), or the defaults:
template.yaml in this directory, AWS endpoint 127.0.0.1:4566, production
listener 127.0.0.1:8080, test listener 127.0.0.1:8081, two relaysim
instances per colour (blue v1, green v2), AWS time 60 times faster.

Exit codes: 0 stopped cleanly (Ctrl-C), 1 usage or configuration error or
the lab could not start, 3 it did not stop cleanly.
`

func runLab(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "lab", lab.Usage, labMore)
	flags := lab.BindFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	cfg, err := flags.Config()
	if err != nil {
		fmt.Fprintf(env.Stderr, "relayshift lab: %v\n", err)
		return ExitUsage
	}
	return labExitCode(env, lab.Run(ctx, cfg, flags.Verbose(), env.Stdout, env.Stderr))
}

// labExitCode maps lab.Run's outcome to the exit codes labMore documents,
// reporting the error.
func labExitCode(env *Env, err error) int {
	var stop *lab.StopError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &stop):
		fmt.Fprintf(env.Stderr, "relayshift lab: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(env.Stderr, "relayshift lab: %v\n", err)
	return ExitUsage
}
