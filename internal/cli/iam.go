package cli

import (
	"slices"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/stackoutputs"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// IAMActions lists every AWS action the CLI's commands can call: the
// policy of a CI role (or a person) running relayshift needs these, scoped
// to the state machine, its executions, the listener (or rule) and the
// target groups. deploy and history need only the states:* ones (and
// cloudformation:DescribeStacks with --stack).
func IAMActions() []string {
	var out []string
	for _, l := range [][]string{
		stepfn.ControlActions(), alb.ReadActions(), alb.WriteActions(), alb.TagReadActions(),
		alb.TagAddActions(), alb.TagRemoveActions(), alb.HealthActions(), stackoutputs.Actions(),
	} {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
