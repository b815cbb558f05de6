//go:build !unix

package store

import "os"

// lockServing does nothing where flock(2) is missing.
func lockServing(string) (*os.File, error) { return nil, nil }
