package webhook

import "time"

// JobTimeoutMargin is how long a delivery job may outlive its HTTP attempt
// (Policy.Timeout) to record the outcome before it counts as stuck.
const JobTimeoutMargin = 5 * time.Second
