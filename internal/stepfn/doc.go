// Package stepfn is the Step Functions adapter: it describes, lists and
// stops executions of the deployment state machine for the functions, and
// implements deploy.Executions on top of *sfn.Client.
package stepfn
