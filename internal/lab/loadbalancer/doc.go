// Package loadbalancer is the local lab's Application Load Balancer: the
// data plane and the control-plane model behind it.
//
// Each Listener is a real HTTP reverse proxy on a loopback port. A request
// is matched against the listener's rules (path, host, header, method,
// query string, source IP) and its default action; a forward action picks a
// target group by weight (with optional group stickiness, the AWSALBTG
// cookie), then a target of that group round robin among healthy targets
// (failing open to all targets when none is healthy, as ALB does). The
// response carries a header naming the colour of the target group that took
// the request. Streaming responses (SSE) are flushed on every write.
//
// The routing table of a listener is an immutable snapshot swapped
// atomically by ModifyListener and ModifyRule, so a weight change is atomic
// and a request already forwarded finishes on the target that took it.
// Deregistered targets drain: no new requests, in-flight ones finish until
// the group's deregistration delay, after which they are cancelled.
//
// Real HTTP health checks move targets through ELBv2's states (initial,
// healthy, unhealthy, draining, unused, unavailable) with ELBv2's reason
// codes. Every request and every health-check round publishes the
// AWS/ApplicationELB metrics AWS publishes, with AWS's dimensions, to a
// MetricSink.
//
// The control-plane methods (ModifyListener, ModifyRule, tags...) validate
// like ELBv2 and return *Error values carrying ELBv2's error codes, which the
// lab's awsQuery front end (internal/lab/awsapi) serialises.
package loadbalancer
