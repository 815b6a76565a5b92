package cli

import (
	"context"
	"fmt"

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
	cfg, err := config()
	if err != nil {
		fmt.Fprintf(env.Stderr, "relayshift demo: %v\n", err)
		return demo.ExitUsage
	}
	return demo.Run(ctx, cfg, env.Stdout, env.Stderr)
}
