// Package deploy is the domain of relayshift: the execution input (Request),
// strategies and the Plan they produce, colours and Weights, the deployment
// Record that Preflight writes, the named errors that form the state
// machine's API, and the handlers of the traffic core (Preflight, Shift,
// Finalize, and the Restore action used by rollback).
//
// It imports no AWS SDK package. It consumes small ports (Router, Targets,
// Executions) that the adapters in internal/alb and internal/stepfn
// implement, and in-memory fakes in internal/deploy/deploytest implement for
// tests and the lab.
//
// The only Lambda-aware code is the handler edge (edge.go): it decodes the
// payload strictly, runs a handler, and converts a returned error into the
// named Lambda error Step Functions matches on.
package deploy
