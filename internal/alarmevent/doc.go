// Package alarmevent holds our own types for the two ways a CloudWatch
// alarm reaches the rollback function: the EventBridge "CloudWatch Alarm
// State Change" event (Event), and the payload of an alarm's direct Lambda
// action (ActionPayload). aws-lambda-go types neither.
//
// The types decode every sample the AWS documentation gives (single metric,
// metric math, anomaly detection and composite alarms; see testdata) and
// marshal back to the same JSON, so the local lab builds the events it
// delivers with them. Change normalises both shapes.
package alarmevent
