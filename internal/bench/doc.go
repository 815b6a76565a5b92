// Package bench is `relayshift bench`: from one run against the local lab
// (internal/lab) with relaysim targets under a constant, bounded load, it
// measures what relayshift claims and prints one table.
//
//   - failed requests during a bad release: relayshift's canary against an
//     all-at-once controller with no metric gate (AllAtOnce: flip 100% to
//     the candidate through the ELBv2 API, wait 2 s, check a sample of
//     production requests, flip back);
//   - the time from fault onset to 100% on stable through the alarm path;
//   - the rollback function's latency from event to verified weights;
//   - failed requests across many weight changes between healthy colours;
//   - the lab proxy's throughput against calling relaysim directly;
//   - the pipeline's overhead over its configured bake and wait time;
//   - an AWS cost estimate per deployment from counted state transitions,
//     Lambda invocations and GetMetricData metrics;
//   - each bootstrap's size and its init time under aws-lambda-rie.
//
// Nothing here asserts a time: the figures are printed, as medians over
// repeated runs where the run allows, with ratios against a baseline
// measured in the same run, because the machine is shared and noisy. Every
// load is bounded (rate, count, duration) and on loopback; every process
// the bench starts is stopped before it returns.
package bench
