package cli

import (
	"context"
	"fmt"

	"github.com/relayshift/relayshift/internal/bench"
)

func benchCommand() Command {
	return Command{Name: "bench", Summary: "measure relayshift against the local lab and print the benchmark table", Run: runBench}
}

const benchMore = `Exit codes: 0 every figure measured, 1 usage or configuration error,
3 a measurement failed (the error is printed).
`

func runBench(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "bench", bench.Usage, benchMore)
	flags := bench.BindFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	cfg, err := flags.Config()
	if err != nil {
		fmt.Fprintf(env.Stderr, "relayshift bench: %v\n", err)
		return ExitUsage
	}
	return bench.Main(ctx, cfg, env.Stdout, env.Stderr)
}
