// Package relaysim is a small, deterministic stand-in for an
// OpenAI-compatible AI API relay: /health, /ready, /v1/models and
// /v1/chat/completions (plain and streamed as server-sent events), with
// fault knobs — an error rate and status, added latency, a slow first token,
// broken SSE framing, a wrong response schema, a crash, and a slow start.
//
// It is a test and demo fixture, not a product relay. Faults are
// deterministic (an error rate of 0.2 fails exactly every fifth eligible
// request) and can be changed at runtime, with Sim.SetFaults or over HTTP
// (GET/PUT /_relaysim/faults). Faults can be limited to requests that do not
// carry a given header, so that a version passes its warm-up on the test
// route (which sends the header) and fails once it takes production traffic.
//
// A Sim is an http.Handler; Start runs it on a loopback address.
package relaysim
