package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Exit codes. deploy uses all of them; the other commands use ExitOK,
// ExitUsage and ExitFailed.
const (
	// ExitOK: the deployment was promoted (deploy --wait), or started
	// (deploy without --wait), or the command did what it was asked.
	ExitOK = 0
	// ExitUsage: a usage or configuration error; nothing was changed.
	ExitUsage = 1
	// ExitRolledBack: the deployment was rolled back (the reason is
	// printed).
	ExitRolledBack = 2
	// ExitFailed: the deployment, or the command, failed for another
	// reason, or the CLI stopped waiting for it (--timeout, interrupt).
	ExitFailed = 3
	// ExitRefused: another deployment holds the listener; this one was
	// refused and changed nothing.
	ExitRefused = 4
)

// Command is one subcommand of relayshift.
type Command struct {
	// Name is what the user types: relayshift <Name>.
	Name string
	// Summary is one line for the command list.
	Summary string
	// Run parses args (the arguments after the name) and runs the command,
	// returning the process exit code. It writes only to env's streams.
	Run func(ctx context.Context, env *Env, args []string) int
}

// commands is the command table, in the order `relayshift --help` lists
// them. A new subcommand is one line here and its own file (see doc.go).
func commands() []Command {
	return []Command{
		deployCommand(),
		statusCommand(),
		rollbackCommand(),
		historyCommand(),
		labCommand(),
		demoCommand(),
		benchCommand(),
	}
}

// Env is everything a command touches outside itself.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Lookup reads an environment variable (os.LookupEnv).
	Lookup func(string) (string, bool)
	// Now is the clock.
	Now func() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Terminal reports whether Stdout is a terminal.
	Terminal bool
	// AWSConfig loads the AWS SDK configuration; region and profile are
	// empty unless given by flags. It honours AWS_ENDPOINT_URL and
	// AWS_ENDPOINT_URL_<SERVICE> (the SDK's default loader does).
	AWSConfig func(ctx context.Context, region, profile string) (aws.Config, error)
}

// OSEnv returns the Env of the running process.
func OSEnv() *Env {
	terminal := false
	if fi, err := os.Stdout.Stat(); err == nil {
		terminal = fi.Mode()&os.ModeCharDevice != 0
	}
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Lookup: os.LookupEnv, Now: time.Now, Sleep: sleepCtx, Terminal: terminal,
		AWSConfig: loadAWSConfig,
	}
}

func loadAWSConfig(ctx context.Context, region, profile string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (e *Env) getenv(k string) string {
	v, _ := e.Lookup(k)
	return strings.TrimSpace(v)
}

// Main runs relayshift with args (without the program name) and returns
// the exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := lookup(args[1]); ok {
				return c.Run(ctx, env, []string{"--help"})
			}
		}
		usage(env.Stdout)
		return ExitOK
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "relayshift: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return ExitUsage
	}
	return c.Run(ctx, env, args[1:])
}

func lookup(name string) (Command, bool) {
	for _, c := range commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `relayshift: blue/green deployments with automatic rollback for an AI API relay behind an ALB.

Usage:
  relayshift <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprint(w, `
Run "relayshift <command> --help" for a command's flags, environment and exit codes.
`)
}
