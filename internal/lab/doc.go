// Package lab is the local lab: the whole SAM application on one machine,
// no AWS account, no Docker, one Go process (DESIGN.md §6).
//
// Start assembles it from a Config and the SAM template:
//
//   - an Application Load Balancer (internal/lab/loadbalancer) with a
//     production listener and a test listener that reaches only the
//     candidate colour, in front of the blue and green targets;
//   - one loopback AWS endpoint (internal/lab/awsapi) that dispatches by
//     the SigV4 credential scope: ELBv2 over the load balancer, CloudWatch
//     over the metrics it publishes (internal/lab/monitoring), Step
//     Functions, Secrets Manager;
//   - the template's alarms, evaluated continuously, and its EventBridge
//     rules (internal/lab/eventbus): an alarm state change matching the
//     rollback rule invokes the rollback function with the AWS-shaped
//     event;
//   - the Lambda functions, in process (the handlers internal/functions
//     builds, the same code as the bootstraps, with the environment the
//     template gives them) or through a Lambda invoke endpoint.
//
// Everything AWS-side runs at Config.TimeScale: a 5-minute bake and a
// 1-minute alarm period take seconds. Env returns the environment that
// points a binary or the CLI at the lab by AWS_ENDPOINT_URL alone.
package lab
