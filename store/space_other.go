//go:build !linux

package store

func checkFreeSpace(string) error { return nil }
