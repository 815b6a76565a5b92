// Package awsapi is the local lab's AWS endpoint: the wire protocols of
// the services the functions and the CLI call, each as the Go SDK speaks
// it by default, over the lab's real state.
//
//   - ELBv2 in awsQuery (form-encoded requests, XML responses, the
//     <ErrorResponse> error shape) over internal/lab/loadbalancer;
//   - CloudWatch in rpcv2-CBOR (with the awsQuery-compatible error code
//     in X-Amzn-Query-Error) over internal/lab/monitoring;
//   - Secrets Manager GetSecretValue in awsJson1.1.
//
// Router dispatches one loopback endpoint to them by the SigV4 credential
// scope, so pointing AWS_ENDPOINT_URL at it is all a client needs. The
// SDK's deserializers are the specification; the tests run the real SDK
// clients against these handlers.
package awsapi
