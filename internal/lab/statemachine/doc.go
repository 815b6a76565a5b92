// Package statemachine is the local lab's AWS Step Functions: an Amazon
// States Language engine that executes the project's real definition
// (infra/statemachine/deploy.asl.json), and the Step Functions API on
// loopback (awsJson1_0, as the Go SDK's sfn client speaks it) in front of
// it.
//
// The engine implements exactly the ASL features the project's definition
// uses (JSONPath query language) — SupportedFeatures lists them, and a test
// fails when they differ from the features deploy.asl.json uses:
//
//   - states: Task (the arn:aws:states:::lambda:invoke integration with
//     Parameters.FunctionName and Parameters.Payload, ResultSelector,
//     ResultPath, Retry, Catch), Choice (Choices, Default), Wait (Seconds,
//     SecondsPath), Pass (Parameters, Result, ResultPath), Succeed, Fail
//     (Error, CausePath as a reference path);
//   - payload templates with dotted reference paths and the $$ context
//     object's Execution.Id;
//   - Retry (ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate,
//     MaxDelaySeconds) and Catch (ErrorEquals, Next, ResultPath), with
//     States.ALL;
//   - the choice operators StringEquals, BooleanEquals and Or;
//   - the intrinsic functions States.Format (a string-literal template)
//     and States.JsonToString.
//
// Anything else (Parallel, Map, JSONata, variables, InputPath, OutputPath,
// TimeoutSeconds, other choice operators, intrinsic functions and context
// fields, other Task resources, subscripts in paths...) is refused by Load
// with an *UnsupportedError naming the feature and the state, so the lab
// never runs a definition differently from AWS without saying so.
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
