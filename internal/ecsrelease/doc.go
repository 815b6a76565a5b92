// Package ecsrelease puts a new relay version on the candidate colour's ECS
// service and follows the rollout: it registers a copy of the service's
// current task definition with only the relay container's image replaced,
// points the service at it (UpdateService), and polls the service's
// deployments until the rollout completes, fails, is rolled back by the
// deployment circuit breaker, or runs out of checks. In release mode
// external it only verifies that nothing is being released on the
// candidate.
//
// It implements the release function's handler (Release.Handle) on top of
// an SDK-shaped API that *ecs.Client satisfies; ecsreleasetest provides a
// stateful in-memory ECS for this package's tests (the lab runs in release
// mode external and calls no ECS API).
package ecsrelease
