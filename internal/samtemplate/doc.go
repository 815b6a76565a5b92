// Package samtemplate is the one reader of the project's SAM and
// CloudFormation templates (template.yaml, infra/relay.yaml). It parses a
// template into a Template — parameters (typed), conditions, mappings,
// globals, resources and outputs — with every intrinsic function in its
// long form, unresolved, and offers the views the checks and the local
// lab share: parameter binding (Bind), a function's environment and
// Globals-aware properties, its EventBridge rules, and its IAM policy
// statements.
//
// It resolves nothing: internal/lab/stack wraps a Template as a deployed
// stack (resource names and ARNs) and resolves the intrinsic functions,
// for the lab and for the alarm checks alike. It is not a CloudFormation
// engine either: cfn-lint validates the templates; this package lets tests
// and the lab read what the templates declare, so that nothing (alarms,
// the rule pattern, IAM actions) is written twice.
package samtemplate
