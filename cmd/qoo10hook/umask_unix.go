//go:build unix

package main

import "syscall"

// privateFiles makes every file the service creates (the SQLite store and
// its WAL, catalog exports) readable by its user only: they hold buyers'
// names, addresses and phone numbers. The container image has no shell to
// run umask in, and systemd's UMask= does the same for the unit.
func privateFiles() { syscall.Umask(0o077) }
