package cli

import (
	"runtime/debug"

	"github.com/qoo10hook/qoo10hook/config"
)

// memoryHeadroom is the memory the service needs beside the mail in
// flight: its code and caches, the store's, and parsing the mails being
// stored.
const memoryHeadroom = 96 << 20

// limitMemory sets the collector's soft memory limit to the in-flight
// budget plus headroom, unless the operator set GOMEMLIMIT: with the lazy
// collector (GOGC=400) the heap would otherwise grow to five times the
// mail it holds, a gigabyte under a flood of large mails.
func limitMemory(cfg *config.Config, getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(cfg.SMTP.MaxInflightBytes) + memoryHeadroom)
}
