// Package infra holds no code: it is the home of the deployable artefacts
// (template.yaml at the repository root, infra/relay.yaml, the state
// machine in infra/statemachine/) and of the tests that prove them valid
// without AWS — cfn-lint, asl-validator, the scenario table executed by
// aws-local-stepfunctions, IAM coverage against functions.All(), error-name
// parity with internal/deploy, and the events/ payloads decoded strictly.
//
// Every check has a deliberately broken fixture in testdata/broken/ (a patch
// applied to a copy of the real artefact) that must make it fail.
package infra
