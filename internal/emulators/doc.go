// Package emulators runs the third-party stand-ins for AWS that the tier-3
// tests use: moto_server (AWS APIs) behind a recording proxy, and the built
// bootstrap binaries under aws-lambda-rie (the Lambda runtime). Every helper
// takes a testing.TB and fails the test loudly when a tool is missing: a
// tier never skips silently.
package emulators
