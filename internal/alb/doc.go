// Package alb is the ELBv2 adapter: it reads and writes the weights of the
// blue and green target groups in a listener's forward action (its default
// action, or a listener rule's actions), reads and writes the listener's
// relayshift:* tags, and summarises target health. It implements
// deploy.Router and deploy.Targets on top of *elasticloadbalancingv2.Client.
package alb
