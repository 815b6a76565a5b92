package deploytest

import "github.com/relayshift/relayshift/internal/deploy"

// Finish ends execution arn with status (SUCCEEDED, FAILED, TIMED_OUT), as
// the state machine would.
func (e *Executions) Finish(arn string, status deploy.ExecutionStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.execs[arn]; ok {
		x.Status = status
		e.execs[arn] = x
	}
}
