package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention bounds how long personal data is kept (see
// docs/data-lifetime.md). 0 keeps it forever.
type Retention struct {
	// Mail: after it a mail's raw bytes and the buyer and receiver values
	// of its events are erased; the rows stay, marked purged.
	Mail Lifetime `yaml:"mail" env:"QOO10HOOK_RETENTION_MAIL"`
	// Deliveries: after it the attempts of delivered deliveries go.
	Deliveries Lifetime `yaml:"deliveries" env:"QOO10HOOK_RETENTION_DELIVERIES"`
	// Dead: dead and failed deliveries (and their mails) are kept until
	// resolved, or for this long.
	Dead Lifetime `yaml:"dead" env:"QOO10HOOK_RETENTION_DEAD"`
}

// Day is the unit retention periods are mostly written in.
const Day = 24 * time.Hour

// DefaultRetention keeps mail 90 days, delivery attempts 30 and dead
// letters 180.
func DefaultRetention() Retention {
	return Retention{Mail: Lifetime(90 * Day), Deliveries: Lifetime(30 * Day), Dead: Lifetime(180 * Day)}
}

// Lifetime is a retention period: "90d", "36h", "2s", "1d12h", or "0" for
// forever.
type Lifetime time.Duration

// D returns l as a time.Duration; 0 means forever.
func (l Lifetime) D() time.Duration { return time.Duration(l) }

// UnmarshalText reads a period in days ("90d"), a Go duration, or both
// ("1d12h").
func (l *Lifetime) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	bad := fmt.Errorf("%q is not a period (write it like 90d, 36h or 2s; 0 keeps forever)", text)
	if text == "" {
		return bad
	}
	if text == "0" {
		*l = 0
		return nil
	}
	var d time.Duration
	days, rest, hasDays := strings.Cut(text, "d")
	if hasDays {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n < 0 {
			return bad
		}
		d = time.Duration(n) * Day
	} else {
		rest = text
	}
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil {
			return bad
		}
		d += v
	}
	if d < 0 {
		return bad
	}
	*l = Lifetime(d)
	return nil
}

// MarshalText writes whole days as "90d", 0 as "0", and other periods as
// Go durations.
func (l Lifetime) MarshalText() ([]byte, error) {
	d := time.Duration(l)
	switch {
	case d == 0:
		return []byte("0"), nil
	case d%Day == 0:
		return []byte(strconv.FormatInt(int64(d/Day), 10) + "d"), nil
	}
	return []byte(d.String()), nil
}
