// Package uuid makes the identifiers the local lab's AWS endpoints hand
// out — request ids, event ids, execution names — as RFC 9562 UUIDs: one
// helper for every lab service.
package uuid
