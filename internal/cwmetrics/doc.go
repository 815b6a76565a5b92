// Package cwmetrics is the CloudWatch adapter: it reads both colours'
// Application Load Balancer metrics over a window in one GetMetricData call
// and lists the pipeline's alarms in ALARM, implementing deploy.Metrics on
// top of *cloudwatch.Client.
package cwmetrics
