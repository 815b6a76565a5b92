// Package samtemplate reads the project's SAM and CloudFormation templates
// (template.yaml, infra/relay.yaml) into a generic tree with intrinsic
// functions in their long form, and offers the typed views the checks and
// the local lab need: function policies, environment, alarms, the rollback
// function's EventBridge pattern, and a small evaluator for the intrinsic
// functions the alarms use (Ref, Fn::Select, Fn::Split, Fn::Join, Fn::Sub).
//
// It is not a CloudFormation engine: cfn-lint validates the templates; this
// package lets tests and the lab read what the templates declare, so that
// nothing (alarms, the rule pattern, IAM actions) is written twice.
package samtemplate
