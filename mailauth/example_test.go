package mailauth_test

import (
	"context"
	"net"
	"net/netip"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/mailauth"
)

// One Checker serves every session, so its DNS cache does. After DATA,
// the session checks the mail and applies the route's policy.
func ExampleChecker_Check() {
	checker := mailauth.New(mailauth.Options{
		Forwarders: []mailauth.Forwarder{{
			Name:       "gmail",
			Networks:   []netip.Prefix{netip.MustParsePrefix("209.85.128.0/17")},
			AuthServID: "mx.google.com",
		}},
	})

	var (
		ctx  = context.Background() // the session's context
		raw  []byte                 // the message as received in DATA
		mail event.Mail
	)
	res := checker.Check(ctx, mailauth.Input{
		RemoteIP: net.ParseIP("203.0.113.10"),
		Helo:     "mta.qoo10.jp",
		MailFrom: "bounce@qoo10.jp",
		Message:  raw,
	})
	switch {
	case res.Aligned([]string{"qoo10.jp"}):
		// deliver
	case res.Temporary():
		// 451 4.7.0: a DNS failure; the sender retries
	default:
		// 550 5.7.1 under "require"
	}
	mail.Auth = res.Auth("require")
}
