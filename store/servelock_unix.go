//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockServing takes the lock that lets one process work the SQLite store
// at path: deliveries a Dispatcher holds have no River job, and another
// process working the same file would take them for stranded and send
// them again. The lock goes with the process, however it ends.
func lockServing(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: %s is served by another qoo10hook process: one process serves a SQLite store "+
				"(stop the other one, or give each its own QOO10HOOK_STORE; several instances share PostgreSQL)", path)
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	return f, nil
}
