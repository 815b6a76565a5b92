// Package statedoc reads the deployment state document
// (docs/architecture.md): the JSON object every state of
// infra/statemachine/deploy.asl.json receives and passes on, with the
// execution input at the top level and each task's result under its own
// key. The CLI (deploy --wait) and the demo render an execution's history
// through it, so both read each key as the Go type the function that wrote
// it returns, restricted by the state's ResultSelector.
//
// statedoc_test.go holds the contract with the definition: every Task
// state's output, kept by its ResultSelector, must read exactly as the
// function's whole output does.
package statedoc
