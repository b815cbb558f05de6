package cli

import (
	"runtime/debug"

	"github.com/qoo10hook/qoo10hook/config"
)

// memoryHeadroom is the Go memory the service needs beside the mail in
// flight (whose parsing the in-flight budget counts): its caches, River's
// and the HTTP side's, and the collector's slack. It is kept small, as the
// collector lets the heap grow to the limit under a flood of mail, and the
// memory Go does not count (the program's code, SQLite's copy of the blob
// being written, twice the largest message) must fit beside it in the
// budget + 100 MiB the service is held to.
const memoryHeadroom = 40 << 20

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
