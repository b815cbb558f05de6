package store

import (
	"fmt"
	"path/filepath"
	"syscall"
)

// maxReserve is the free space SQLite's disk must keep for the store to
// count as ready: room for the WAL to take a burst of mail and for a
// checkpoint to copy it back. A small disk keeps a tenth of its size.
const maxReserve = 32 << 20

// checkFreeSpace reports a disk with less free space than its reserve:
// commits are about to fail, and a load balancer had better send mail to
// another instance before they do.
func checkFreeSpace(dbPath string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(dbPath), &st); err != nil {
		return nil // the probe write tells
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	reserve := min(maxReserve, int64(st.Blocks)*int64(st.Bsize)/10)
	if free < reserve {
		return fmt.Errorf("store: disk nearly full: %d bytes free, below the %d kept in reserve", free, reserve)
	}
	return nil
}
