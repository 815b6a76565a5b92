// Package demo is `relayshift demo` (`make demo`): the pipeline's story
// told on the local lab, with real traffic, in well under a minute.
//
// It starts the lab (internal/lab) with relaysim blue on v1 under a
// steady, bounded load of chat completions (internal/loadgen, some
// streamed) on the production listener, then runs two deployments through
// the real state machine, started and followed through the Step Functions
// API as the CLI does:
//
//  1. v2, healthy, released on green and promoted by a canary strategy;
//  2. v3, released on blue, which fails a share of production requests
//     while answering the test route's warm-up perfectly (relaysim's
//     ExemptHeader), so only production traffic reveals it. The canary's
//     bake outlasts the template's 5xx-rate alarm, so the alarm goes into
//     ALARM first and the EventBridge rule brings the rollback function.
//
// A timeline shows the states entered, the weights after each shift, the
// load generator's per-colour requests, failures and p99 per alarm
// period, the alarm transitions, the events delivered to the rollback
// function and which path rolled v3 back, read from the execution's
// outcome and history and from the rollback function's output. A summary
// table closes it. Each story is verified at its end through the ELBv2
// API and through the colour header of real requests; the exit status is
// 0 only when both ended as expected.
package demo
