package lab

import (
	"context"
	"fmt"

	"github.com/relayshift/relayshift/internal/lab/awsapi"
	"github.com/relayshift/relayshift/internal/lab/statemachine"
)

// startStates runs the template's state machines on the lab's Step
// Functions engine and serves the Step Functions API on the endpoint.
func (l *Lab) startStates(read func(string) ([]byte, error)) error {
	svc, err := statemachine.NewService(statemachine.Options{
		Invoker: l.Invoker, Region: l.cfg.Region, Account: l.cfg.AccountID,
		TimeScale: l.cfg.TimeScale, Log: l.log.With("service", "states"),
	})
	if err != nil {
		return err
	}
	l.States = svc
	l.closers = append(l.closers, func(context.Context) error { svc.Close(); return nil })
	sms, err := l.Stack.StateMachines(read)
	if err != nil {
		return fmt.Errorf("template state machines: %w", err)
	}
	for _, sm := range sms {
		// NOTE: Load refuses any ASL feature the engine does not implement,
		// naming it: the lab never runs a definition differently from AWS
		// without saying so.
		def, err := statemachine.Load(sm.Definition, sm.Substitutions)
		if err != nil {
			return fmt.Errorf("state machine %s (%s): %w", sm.LogicalID, sm.DefinitionPath, err)
		}
		role := fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-role", l.cfg.AccountID, l.cfg.StackName, sm.LogicalID)
		created, err := svc.CreateStateMachine(sm.Name, role, def)
		if err != nil {
			return fmt.Errorf("state machine %s: %w", sm.LogicalID, err)
		}
		if created.ARN != sm.ARN {
			return fmt.Errorf("state machine %s: created as %s, the template's functions expect %s", sm.LogicalID, created.ARN, sm.ARN)
		}
		l.log.Info("state machine", "name", sm.Name, "states", len(def.States()))
	}
	l.router.Handle(awsapi.ServiceStates, svc)
	return nil
}
