// Package cli is the relayshift command line: deploy (start a deployment,
// follow it live, exit with a code CI can trust), status, rollback and
// history, plus the subcommands other packages add (lab, demo, bench,
// relaysim).
//
// cmd/relayshift/main.go only builds an Env from the process and calls
// Main. Everything a command touches outside itself — standard streams,
// environment, clock, sleeping, AWS configuration — comes from the Env, so
// tests run commands in-process against fake or emulated endpoints.
//
// # Adding a subcommand
//
// Write it in its own file as a function returning a Command, and add one
// line calling that function to the list in commands() (commands.go):
//
//	// lab.go
//	func labCommand() Command {
//		return Command{Name: "lab", Summary: "run the whole application on this machine", Run: runLab}
//	}
//
//	func runLab(ctx context.Context, env *Env, args []string) int {
//		fs := newFlagSet(env, "lab", labUsage, labMore)
//		config := fs.String("config", "lab.json", "the lab's configuration")
//		if code, ok := parseFlags(env, fs, args); !ok {
//			return code // --help (0) or a bad flag (ExitUsage)
//		}
//		...
//		return ExitOK
//	}
//
//	// commands.go, in commands():
//	//	labCommand(),
//
// newFlagSet and parseFlags give the command --help (printing Usage and the
// flags) and the usage exit code for free; addConfigFlags adds the shared
// --stack / RELAYSHIFT_* configuration when the command talks to AWS.
package cli
