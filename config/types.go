package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "5s", "2m30s" or "24h".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like 30s, 5m or 2h)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ByteSize is a size in bytes written as "10MiB", "64KiB", "512" or "1MB".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText reads a byte size with an optional unit.
func (s *ByteSize) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	factor := int64(1)
	num := text
	for _, u := range byteUnits {
		if strings.HasSuffix(text, u.suffix) {
			factor, num = u.factor, strings.TrimSpace(strings.TrimSuffix(text, u.suffix))
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a size (write it like 10MiB, 64KiB or 2048)", text)
	}
	*s = ByteSize(v * factor)
	return nil
}

// MarshalText writes s with the largest binary unit that divides it.
func (s ByteSize) MarshalText() ([]byte, error) {
	v := int64(s)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.factor == 0 {
			return []byte(strconv.FormatInt(v/u.factor, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(v, 10)), nil
}

// Secret is a string that never prints: check-config and logs show <secret>.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalText hides the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the value as written.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}

// Reveal returns the value, for the code that uses it.
func (s Secret) Reveal() string { return string(s) }
