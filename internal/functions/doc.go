// Package functions builds each Lambda function's handler from its
// configuration: it reads the RELAYSHIFT_* environment into a validated
// Config, builds the AWS clients and adapters once per cold start, and
// returns the function's deploy.Edge. functions/<name>/main.go, the local
// lab and the tests all build handlers here, so they run the same code.
package functions
