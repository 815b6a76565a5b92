package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// Environment variables of deploy (besides the configuration).
const (
	EnvPollInterval = "RELAYSHIFT_POLL_INTERVAL"
	EnvProgress     = "RELAYSHIFT_PROGRESS"
)

const deployUsage = `
Usage:
  relayshift deploy --version V [--image I] [--commit SHA] [--strategy S] [--wait] [--output text|json]

Starts a deployment: an execution of the deployment state machine whose name
is the deployment id, derived from the service, version and commit (for
example relay-v2.4.0-9f1c2ab). Running the same command again - a re-run CI
job - attaches to that execution instead of starting a second one, and if it
has ended, reports how it ended. When another deployment is running, nothing
is started (exit 4).

With --wait it follows the execution's history live: one line per state
transition with the time since the start and what the state did (weights
after a shift, the verdict and its reasons, the rollback and its cause); on a
terminal, a status line at the bottom shows the current state and the bake
countdown. It exits with the deployment's outcome (below).
`

func deployMore() string {
	return helpText(text(`
Environment (deploy):
  RELAYSHIFT_POLL_INTERVAL           default for --poll-interval
  RELAYSHIFT_PROGRESS                default for --progress: auto, tty or plain
  GITHUB_ACTIONS=true                also print the outcome as a GitHub Actions annotation
  NO_COLOR                           no colours on a terminal
`), configHelp, text(`
Exit codes:
  0  promoted (with --wait), or started and still running (without --wait)
  1  usage or configuration error; nothing was started
  2  rolled back; the reason is printed
  3  failed for another reason, or stopped waiting (--timeout, interrupt) while it still runs
  4  refused: another deployment holds the listener; nothing was changed
`))
}

func deployCommand() Command {
	return Command{Name: "deploy", Summary: "start a deployment; with --wait, follow it and exit with its outcome", Run: runDeploy}
}

// deployOptions are deploy's flags.
type deployOptions struct {
	version, image, commit, strategy string
	postBake                         time.Duration
	dryRun, wait                     bool
	output, progress                 string
	poll, timeout                    time.Duration
	attempt                          int
}

func runDeploy(ctx context.Context, env *Env, args []string) int {
	poll, perr := durationEnv(env, EnvPollInterval, 2*time.Second)
	progressDefault := env.getenv(EnvProgress)
	if progressDefault == "" {
		progressDefault = "auto"
	}
	fs := newFlagSet(env, "deploy", deployUsage, deployMore())
	var o deployOptions
	fs.StringVar(&o.version, "version", "", "version of the release (required); part of the deployment id")
	fs.StringVar(&o.image, "image", "", "container image of the release (required when the functions' release mode is ecs)")
	fs.StringVar(&o.commit, "commit", "", "source commit; part of the deployment id (its first 12 characters)")
	fs.StringVar(&o.strategy, "strategy", "", "preset ("+strings.Join(deploy.Presets(), ", ")+`) or custom JSON {"steps":[5,25,50,100],"bakeSeconds":120}; default: the functions' RELAYSHIFT_DEFAULT_STRATEGY`)
	fs.DurationVar(&o.postBake, "post-promotion-bake", 0, "how long to watch the release at 100% before the final evaluation (default 5m)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "compute and report every step without changing traffic")
	fs.BoolVar(&o.wait, "wait", false, "follow the execution until it ends and exit with its outcome")
	fs.StringVar(&o.output, "output", "text", "text, or json: one JSON object with the outcome on stdout (progress goes to stderr)")
	fs.StringVar(&o.progress, "progress", progressDefault, "auto (a status line on a terminal, plain lines otherwise or when CI is set), tty or plain")
	fs.DurationVar(&o.poll, "poll-interval", poll, "how often to read the execution's history")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop waiting after this long (exit 3; the deployment goes on); 0 waits until it ends")
	fs.IntVar(&o.attempt, "attempt", 1, "start the same version and commit again as a new deployment (id suffix -aN) after an earlier one ended")
	cf := addConfigFlags(fs)
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	if perr != nil {
		return failf(env, "deploy", ExitUsage, "%v", perr)
	}
	req, err := o.request()
	if err != nil {
		return failf(env, "deploy", ExitUsage, "%v", err)
	}
	if err := o.check(); err != nil {
		return failf(env, "deploy", ExitUsage, "%v", err)
	}
	t, err := cf.resolve(ctx, env, keyStateMachine)
	if err != nil {
		return failf(env, "deploy", codeOf(err), "%v", err)
	}
	d := &deployer{env: env, o: o, req: req, t: t, ctl: stepfn.NewControl(sfn.NewFromConfig(t.AWS))}
	return d.run(ctx)
}

// request builds and validates the execution input, touching nothing.
func (o deployOptions) request() (deploy.Request, error) {
	req := deploy.Request{Version: o.version, Image: o.image, Commit: o.commit, DryRun: o.dryRun}
	if s := strings.TrimSpace(o.strategy); s != "" {
		if !strings.HasPrefix(s, "{") {
			s = strconv.Quote(s)
		}
		var st deploy.Strategy
		if err := st.UnmarshalJSON([]byte(s)); err != nil {
			return req, fmt.Errorf("--strategy: %v", err)
		}
		req.Strategy = &st
	}
	if o.postBake != 0 {
		if o.postBake < 0 || o.postBake%time.Second != 0 {
			return req, fmt.Errorf("--post-promotion-bake %s: want whole seconds, 0 or more", o.postBake)
		}
		secs := int(o.postBake / time.Second)
		req.PostPromotionBakeSeconds = &secs
	}
	if err := req.Validate(false); err != nil {
		return req, fmt.Errorf("%v (see --help)", strings.TrimPrefix(err.Error(), string(deploy.InvalidInput)+": "))
	}
	return req, nil
}

func (o deployOptions) check() error {
	switch {
	case o.output != "text" && o.output != "json":
		return fmt.Errorf("--output %q: want text or json", o.output)
	case o.progress != "auto" && o.progress != "tty" && o.progress != "plain":
		return fmt.Errorf("--progress %q: want auto, tty or plain", o.progress)
	case o.poll <= 0:
		return fmt.Errorf("--poll-interval %s: want a positive duration", o.poll)
	case o.timeout < 0:
		return fmt.Errorf("--timeout %s: want 0 or more", o.timeout)
	case o.attempt < 1 || o.attempt > 99:
		return fmt.Errorf("--attempt %d: want 1 to 99", o.attempt)
	}
	return nil
}

// executionName is the deployment id, with the attempt as a suffix from the
// second attempt on, kept within Step Functions' 80 characters.
func executionName(service string, req deploy.Request, attempt int) string {
	id := deploy.DeploymentID(service, req.Version, req.Commit)
	if attempt <= 1 {
		return id
	}
	suffix := "-a" + strconv.Itoa(attempt)
	return id[:min(len(id), 80-len(suffix))] + suffix
}

// deployer runs one deploy command.
type deployer struct {
	env *Env
	o   deployOptions
	req deploy.Request
	t   target
	ctl *stepfn.Control
}

// streams returns where progress and the final result go.
func (d *deployer) streams() (progressOut, resultOut io.Writer) {
	if d.o.output == "json" {
		return d.env.Stderr, d.env.Stdout
	}
	return d.env.Stdout, d.env.Stdout
}

// tty reports whether to draw the status line.
func (d *deployer) tty() bool {
	switch d.o.progress {
	case "tty":
		return true
	case "plain":
		return false
	}
	return d.o.output == "text" && d.env.Terminal && d.env.getenv("TERM") != "dumb" && d.env.getenv("CI") == ""
}

func (d *deployer) run(ctx context.Context) int {
	name := executionName(d.t.Service, d.req, d.o.attempt)
	input, err := json.Marshal(d.req)
	if err != nil {
		return failf(d.env, "deploy", ExitFailed, "encode the execution input: %v", err)
	}
	arn, err := stepfn.ExecutionARN(d.t.StateMachineARN, name)
	if err != nil {
		return failf(d.env, "deploy", ExitUsage, "%v", err)
	}
	pw, _ := d.streams()
	tty := d.tty()
	p := newProgress(pw, tty, tty && d.env.getenv("NO_COLOR") == "", d.env.Now)
	res := outcome{Deployment: name, ExecutionARN: arn, Console: consoleURL(arn), Version: d.req.Version, Commit: d.req.Commit}

	// An execution with this name already exists: attach to it.
	det, err := d.ctl.Detail(ctx, arn)
	switch {
	case err == nil:
		res.Attached = true
	case notFound(err):
		started, refused, err := d.start(ctx, name, string(input))
		if err != nil {
			return failf(d.env, "deploy", ExitFailed, "%v", err)
		}
		if refused != nil {
			res.Status, res.HeldBy = "NOT_STARTED", refused.Name
			res.ExecutionARN, res.Console = "", ""
			res.classified(resultRefused, fmt.Sprintf("deployment %s (started %s) holds the listener; one deployment at a time",
				refused.Name, refused.Started.UTC().Format(time.RFC3339)))
			p.report(d.env.Now(), "REFUSED", yellow, res.Reason, [][2]string{
				{"nothing", "was started; re-run this job when it has finished (relayshift status shows it)"},
			})
			return d.finish(res)
		}
		res.Attached = started.Existing
		if det, err = d.ctl.Detail(ctx, started.ARN); err != nil {
			return failf(d.env, "deploy", ExitFailed, "%v", err)
		}
	default:
		return failf(d.env, "deploy", ExitFailed, "%v", err)
	}
	d.header(pw, det, res.Attached, string(input))

	if !d.o.wait && !det.Ended() {
		fmt.Fprintf(pw, "relayshift: not waiting for it (deploy --wait follows it to the end)\n")
		res.Status = string(det.Status)
		res.classified(resultRunning, "")
		res.ExitCode = ExitOK // started (or found running), as asked
		res.StartedAt = timePtr(det.Started)
		return d.finish(res)
	}
	f := &follower{ctl: d.ctl, hist: d.ctl.History(det.ARN), p: p, env: d.env, poll: d.o.poll, timeout: d.o.timeout}
	det, ferr := f.run(ctx, det)
	res.explain(det, p, ferr)
	return d.finish(res)
}

// start refuses early when another deployment is running (nothing is
// started then), and otherwise starts the execution.
func (d *deployer) start(ctx context.Context, name, input string) (stepfn.Started, *deploy.Execution, error) {
	running, err := d.ctl.Running(ctx, d.t.StateMachineARN)
	if err != nil {
		return stepfn.Started{}, nil, err
	}
	if h, ok := deploy.Holder(running); ok {
		return stepfn.Started{}, &h, nil
	}
	st, err := d.ctl.Start(ctx, d.t.StateMachineARN, name, input)
	return st, nil, err
}

func (d *deployer) header(w io.Writer, det stepfn.Detail, attached bool, input string) {
	what := fmt.Sprintf("version %s", d.req.Version)
	if d.req.Commit != "" {
		what += ", commit " + d.req.Commit
	}
	if attached {
		fmt.Fprintf(w, "relayshift: %s already exists (%s, started %s): following it instead of starting another\n",
			det.Name, det.Status, det.Started.UTC().Format(time.RFC3339))
		if det.Input != input {
			fmt.Fprintf(w, "relayshift: warning: its input differs from this command's (%s); use --attempt N to deploy again\n",
				oneLine(det.Input, 200))
		}
	} else {
		fmt.Fprintf(w, "relayshift: started %s (%s)\n", det.Name, what)
	}
	fmt.Fprintf(w, "execution: %s\nconsole:   %s\n", det.ARN, consoleURL(det.ARN))
}

// finish writes the JSON result or the CI annotation, and returns the exit
// code.
func (d *deployer) finish(res outcome) int {
	_, out := d.streams()
	if d.o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else if d.env.getenv("GITHUB_ACTIONS") == "true" && res.Result != resultRunning {
		level := "error"
		if res.ExitCode == ExitOK {
			level = "notice"
		}
		title := fmt.Sprintf("relayshift: %s %s", res.Deployment, strings.ReplaceAll(res.Result, "_", " "))
		// NOTE: workflow command values escape %, CR and LF, and property
		// values also : and , (GitHub Actions "Workflow commands" reference).
		fmt.Fprintf(out, "::%s title=%s::%s\n", level, escapeProperty(title), escapeData(res.Reason))
	}
	return res.ExitCode
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// notFound reports whether err says the execution does not exist
// (stepfn keeps the SDK's typed exception in the chain it classifies).
func notFound(err error) bool {
	var missing *types.ExecutionDoesNotExist
	return errors.As(err, &missing)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
