// Package candidate verifies the candidate colour before it takes any
// user traffic: HealthCheck (its target group's health in the load
// balancer, then HTTP readiness through the test route: the health path
// and GET /v1/models listing every warm-up model) and WarmUp (the
// LLM-aware warm-up of internal/relayprobe, judged per model). They are the
// handlers of the healthcheck and warmup functions.
package candidate
