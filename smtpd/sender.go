package smtpd

import (
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/mailauth"
	"github.com/qoo10hook/qoo10hook/route"
)

var (
	replySenderRefused = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender not authenticated: mail must pass SPF or DKIM aligned with an allowed sender domain"}
	replySenderTemp = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Sender authentication failed temporarily, please try again later"}
)

// authenticate applies the transaction's sender policy to a received
// message. It returns the verdicts for the event, whether to hold the mail
// (quarantine), or the reply refusing it.
//
//	policy      aligned   not aligned, DNS failed   not aligned
//	require     accept    451 4.7.0                 550 5.7.1
//	quarantine  accept    451 4.7.0                 accept, hold
//	tag         accept    accept                    accept
//	off         accept, no lookup at all
//
// A mail is aligned when SPF or DKIM passed for a domain aligned with its
// From domain, and that is one of AllowedSenders or under one.
func (s *session) authenticate(raw []byte) (*event.Auth, bool, *smtp.SMTPError) {
	p := s.policy
	if p == route.PolicyOff || p == "" || s.s.cfg.Checker == nil {
		s.s.metrics.policy.WithLabelValues(string(route.PolicyOff), "unchecked").Inc()
		return nil, false, nil
	}
	in := mailauth.Input{RemoteIP: net.IP(s.ip.AsSlice()), Helo: s.env.Helo, MailFrom: s.env.MailFrom,
		Message: raw, Forwarder: s.forwarder()}
	start := time.Now()
	res := s.s.cfg.Checker.Check(s.ctx, in)
	s.s.metrics.senderSeconds.Observe(time.Since(start).Seconds())
	s.s.metrics.verdicts(res)

	aligned := res.Aligned(s.s.cfg.AllowedSenders)
	outcome, hold := "aligned", false
	var reply *smtp.SMTPError
	switch {
	case aligned:
	case p == route.PolicyTag:
		outcome = "tagged"
	case res.Temporary():
		outcome, reply = "deferred", replySenderTemp
	case p == route.PolicyQuarantine:
		outcome, hold = "quarantined", true
	default:
		outcome, reply = "rejected", replySenderRefused
	}
	s.s.metrics.policy.WithLabelValues(string(p), outcome).Inc()
	attrs := []any{"policy", string(p), "outcome", outcome, "from_domain", res.FromDomain,
		"spf", res.SPF.Result, "dkim", res.DKIM.Result, "dmarc", res.DMARC.Result, "via", res.Via}
	if res.Err != nil {
		s.log.Debug("sender authentication problems", "err", res.Err)
	}
	if outcome == "aligned" || outcome == "tagged" {
		s.log.Debug("sender authenticated", attrs...)
	} else {
		s.log.Info("sender not authenticated", attrs...)
	}
	if reply != nil {
		return nil, false, reply
	}
	return res.Auth(string(p)), hold, nil
}
