// Package statemachine is the local lab's AWS Step Functions: an Amazon
// States Language engine that executes the project's real definition
// (infra/statemachine/deploy.asl.json), and the Step Functions API on
// loopback (awsJson1_0, as the Go SDK's sfn client speaks it) in front of
// it.
//
// The engine implements exactly the ASL features the project's definition
// uses, with AWS's documented semantics (JSONPath query language):
//
//   - states: Task (the arn:aws:states:::lambda:invoke integration with
//     Parameters.FunctionName and Parameters.Payload; optional
//     TimeoutSeconds), Choice, Wait (Seconds, SecondsPath, Timestamp,
//     TimestampPath), Pass (Result, Parameters), Succeed, Fail (Error,
//     Cause, ErrorPath, CausePath);
//   - input and output processing: InputPath, Parameters, ResultSelector,
//     ResultPath, OutputPath, with reference paths and the $$ context
//     object;
//   - Retry (ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate,
//     MaxDelaySeconds, JitterStrategy) and Catch (ErrorEquals, Next,
//     ResultPath), with States.ALL, States.TaskFailed and States.Runtime
//     semantics;
//   - every JSONPath Choice operator, And, Or, Not;
//   - the intrinsic functions States.Format, StringToJson, JsonToString,
//     Array, ArrayLength, ArrayGetItem, ArrayContains, MathAdd and UUID.
//
// Anything else (Parallel, Map, JSONata, variables, other Task resources
// and integration patterns, heartbeats, non-reference paths, other
// intrinsic functions...) is refused by Load with an *UnsupportedError
// naming the feature and the state, so the lab never runs a definition
// differently from AWS without saying so.
//
// Tasks invoke Lambda functions through an Invoker: InProcess runs the
// functions' handlers (internal/functions) in this process, HTTPInvoker
// calls a Lambda Invoke endpoint (`sam local start-lambda`, or
// aws-lambda-rie per function). Wait durations and retry intervals are
// multiplied by Options.TimeScale so that a 5-minute bake takes seconds;
// the Clock is injectable (VirtualClock for tests).
//
// Service keeps state machines and executions in memory and answers
// CreateStateMachine, DescribeStateMachine, ListStateMachines,
// StartExecution (with AWS's name idempotency), DescribeExecution,
// StopExecution, ListExecutions and GetExecutionHistory, with history
// events shaped like AWS's, so the functions and the CLI work against it
// through an endpoint override alone.
package statemachine
