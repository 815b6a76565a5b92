// Package relayprobe probes an OpenAI-compatible AI API relay the way its
// users call it: GET a health path, list models (GET /v1/models), and send
// chat completions, plain and streamed as server-sent events, checking every
// answer's status, shape and SSE framing and timing it (latency, time to
// first token). Failures are classified (auth, 429, 4xx, 5xx, timeout,
// connection, bad_schema, bad_sse).
//
// Warmup sends a bounded, concurrent set of such requests per model and
// judges them against thresholds (success ratio, p95 latency, p95 time to
// first token). The package knows nothing of AWS or the deployment; the
// health check and warm-up handlers in internal/candidate use it, and so can
// the lab and the benchmark.
//
// The API key is sent only in the Authorization header; the package never
// logs, and failure details have the key scrubbed from anything the relay
// echoed.
package relayprobe
