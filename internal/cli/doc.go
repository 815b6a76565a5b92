// Package cli is the relayshift command line: deploy (start a deployment,
// follow it live, exit with a code CI can trust), status, rollback and
// history, plus the subcommands that run other packages (lab, demo,
// bench).
//
// cmd/relayshift/main.go only builds an Env from the process and calls
// Main. Everything a command touches outside itself — standard streams,
// environment, clock, sleeping, AWS configuration — comes from the Env, so
// tests run commands in-process against fake or emulated endpoints.
//
// # Adding a subcommand
//
// Write it in its own file as a function returning a Command, and add one
// line calling that function to the list in commands() (commands.go). For
// example, a command that lists the running deployments:
//
//	// running.go
//	func runningCommand() Command {
//		return Command{Name: "running", Summary: "list the running deployments", Run: runRunning}
//	}
//
//	func runRunning(ctx context.Context, env *Env, args []string) int {
//		fs := newFlagSet(env, "running", runningUsage, runningMore())
//		output := fs.String("output", "text", "text or json")
//		cf := addConfigFlags(fs)
//		if code, ok := parseFlags(env, fs, args); !ok {
//			return code // --help (0) or a bad flag (ExitUsage)
//		}
//		t, err := cf.resolve(ctx, env, keyStateMachine)
//		if err != nil {
//			return failf(env, "running", codeOf(err), "%v", err)
//		}
//		...
//		return ExitOK
//	}
//
//	// commands.go, in commands():
//	//	runningCommand(),
//
// newFlagSet and parseFlags give the command --help (printing Usage and the
// flags) and the usage exit code for free; addConfigFlags adds the shared
// --stack / RELAYSHIFT_* configuration when the command talks to AWS.
package cli
