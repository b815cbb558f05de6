package store

import "time"

// Defaults of the Options fields left zero.
const (
	// DefaultBatchMax is the most mails one group commit stores.
	DefaultBatchMax = 256
	// DefaultBacklog is how many mails may wait for a commit before
	// Ingest answers ErrBusy (and SMTP 451 4.3.2); DefaultBacklogBytes
	// bounds their bytes.
	DefaultBacklog      = 512
	DefaultBacklogBytes = 256 << 20
	// DefaultPostgresWriters is how many batches of mail commit at once
	// on PostgreSQL.
	DefaultPostgresWriters = 4
	// DefaultPollInterval is how often the delivery queues look for due
	// jobs.
	DefaultPollInterval = 100 * time.Millisecond
)
