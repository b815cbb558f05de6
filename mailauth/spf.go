package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"

	"github.com/qoo10hook/qoo10hook/event"
)

// checkSPF checks whether the connecting IP may send for the MAIL FROM
// domain, or, for the null sender, for the HELO name (RFC 7208 section
// 2.4). The verdict's Domain is the domain checked.
func (c *Checker) checkSPF(ctx context.Context, in Input) (event.Verdict, error) {
	sender := strings.Trim(strings.TrimSpace(in.MailFrom), "<>")
	helo := strings.TrimSpace(in.Helo)
	_, domain, _ := strings.Cut(sender, "@") // the split the spf package makes
	if domain == "" {
		// A HELO address literal names no domain to check.
		if helo == "" || strings.HasPrefix(helo, "[") || net.ParseIP(helo) != nil {
			return event.Verdict{Result: None}, nil
		}
		domain, sender = helo, "postmaster@"+helo
	}
	domain = normDomain(domain)
	r, err := spf.CheckHostWithSender(in.RemoteIP, helo, sender,
		spf.WithContext(ctx), spf.WithResolver(c.dns))
	v := event.Verdict{Result: string(r), Domain: domain}
	switch r {
	case spf.Pass, spf.Fail, spf.SoftFail, spf.Neutral, spf.None:
		// err only says which term matched.
		return v, nil
	case spf.TempError, spf.PermError:
		local, _, _ := strings.Cut(sender, "@")
		return v, fmt.Errorf("mailauth: spf %s: %s: %w", domain, r, withholdName(err, local))
	default:
		return event.Verdict{Result: PermError, Domain: domain}, fmt.Errorf("mailauth: spf %s: unknown result %q", domain, r)
	}
}

// withholdName drops the name from a lookup error when it holds the MAIL
// FROM local part, which an SPF macro (RFC 7208 section 7) can put there:
// Result carries no addresses.
func withholdName(err error, local string) error {
	var de *net.DNSError
	if local == "" || !errors.As(err, &de) || !strings.Contains(strings.ToLower(de.Name), strings.ToLower(local)) {
		return err
	}
	c := *de
	c.Name = "(name withheld)"
	return &c
}
