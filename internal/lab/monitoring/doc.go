// Package monitoring is the local lab's CloudWatch: a store of raw
// datapoints (what the lab's load balancer publishes), the statistics and
// the metric math GetMetricData computes over them, and metric alarms
// evaluated continuously with CloudWatch's rules (periods,
// EvaluationPeriods, DatapointsToAlarm, threshold, comparison,
// TreatMissingData), whose state changes become the EventBridge
// "CloudWatch Alarm State Change" event.
//
// Time runs at the lab's scale for alarms only: with TimeScale 1/60 a
// 60-second alarm period lasts one real second and alarms are evaluated
// every second, as CloudWatch does every minute. GetMetricData answers in
// real time, bucketing from StartTime, so a function asking for "the
// window since this step began" gets exactly that traffic.
//
// No traffic means no datapoint: a period without requests has no
// RequestCount value (not zero), and error counts exist only for periods
// with errors, as on AWS — FILL in metric math supplies zeros.
//
// The metric math is what the project uses (math.go): + - * /,
// parentheses, metric ids and FILL(series, number); anything else is
// refused with a ValidationError when the alarm or the query is created.
package monitoring
