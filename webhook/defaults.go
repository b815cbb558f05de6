package webhook

import "time"

// JobTimeoutMargin is how long a delivery job may outlive its HTTP attempt
// (Policy.Timeout) to record the outcome before it counts as stuck.
const JobTimeoutMargin = 5 * time.Second

// Defaults of the Policy fields left zero.
const (
	DefaultBreakerFailures = 10
	DefaultBreakerCooldown = time.Minute
)
