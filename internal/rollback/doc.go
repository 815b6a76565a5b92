// Package rollback is the rollback function's handler. It puts all traffic
// back on the stable colour when a pipeline alarm goes into ALARM (the
// EventBridge "CloudWatch Alarm State Change" event, or an alarm's direct
// Lambda action) or when the state machine catches a failure (its Catch
// payload), using the domain core deploy.FindToRollBack and deploy.RollBack.
//
// It is idempotent under at-least-once delivery: a restore writes only when
// the split differs, a stopped execution is not stopped again, and a retry
// after a failed restore finds the stopped deployment through the listener
// tags. Foreign events are logged and ignored without any AWS call.
package rollback
