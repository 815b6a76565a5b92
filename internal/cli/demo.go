package cli

import (
	"context"

	"github.com/relayshift/relayshift/internal/demo"
)

func demoCommand() Command {
	return Command{Name: "demo", Summary: "tell the story on the local lab: a release promoted, a bad one rolled back by its alarm", Run: runDemo}
}

func runDemo(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "demo", demo.Usage, demo.UsageMore)
	config := demo.BindFlags(fs, demo.DefaultConfig())
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	// demo.Run validates the configuration (exit ExitUsage).
	return demo.Run(ctx, config(), env.Stdout, env.Stderr)
}
