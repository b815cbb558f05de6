package mailauth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/qoo10hook/qoo10hook/event"
)

// Check authenticates one mail. SPF, DKIM and the DMARC record lookup run
// side by side under one deadline, Options.Timeout. Every lookup returns
// by then even if the resolver never answers, and DKIM hashing stops
// there, so Check returns within the budget; a check cut short, like any
// DNS failure, becomes temperror. Check never fails: problems are in
// Result.Err. It does not keep in once it returns.
func (c *Checker) Check(ctx context.Context, in Input) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	msg, fs := in.parts()
	from, fromErr := fromDomain(fs)
	o := c.runChecks(ctx, in, msg, fs, from)
	res := Result{
		FromDomain:  from,
		SPF:         o.spf,
		DKIM:        o.dkim.verdict,
		DKIMDomains: o.dkim.passing,
		DMARCPolicy: o.policy.policy,
		tempFailed:  o.spf.Result == TempError || o.dkim.temp,
	}
	fwdDMARC, fwdErr := c.viaForwarder(&res, in, fs)
	res.DMARC = evalDMARC(from, o.policy, res.SPF, res.DKIM, res.DKIMDomains)
	// A forwarder's own DMARC verdict stands when it is about this From
	// domain; otherwise ours, computed from its SPF and DKIM results.
	if fwdDMARC.Result != "" && from != "" && fwdDMARC.Domain == from {
		res.DMARC = fwdDMARC
	}
	errs := append([]error{fromErr}, o.errs...)
	res.Err = errors.Join(append(errs, fwdErr)...)
	return res
}

// parts returns the whole message, for the DKIM body hashes, and the
// header fields the checks read from the header block.
func (in Input) parts() ([]byte, []field) {
	msg := in.Message
	if len(msg) == 0 {
		msg = in.Header
	}
	hdr := in.Header
	if len(hdr) == 0 {
		hdr = msg
	}
	return msg, fields(headerOf(hdr), "From", "DKIM-Signature", "Authentication-Results", "ARC-Authentication-Results")
}

// outcomes is what the checks running side by side found; errs holds
// the budget's error, then SPF's, DKIM's and the DMARC lookup's.
type outcomes struct {
	spf    event.Verdict
	dkim   dkimOutcome
	policy policy
	errs   []error
}

// runChecks runs SPF, DKIM and the DMARC record lookup (when there is a
// From domain) side by side under ctx, and waits for all three. Waiting,
// rather than returning at the deadline with whatever arrived, is what
// lets Check promise not to touch in after it returns; the lookups and
// the hashing are what honour the deadline.
func (c *Checker) runChecks(ctx context.Context, in Input, msg []byte, fs []field, from string) outcomes {
	hasSig := false
	for _, f := range fs {
		hasSig = hasSig || f.name == "DKIM-Signature"
	}
	var (
		wg     sync.WaitGroup
		spf    event.Verdict
		spfErr error
		dk     dkimOutcome
		pol    = policy{result: PermError}
	)
	wg.Go(func() {
		defer recoverTo("spf", &spfErr, func() { spf = event.Verdict{Result: TempError} })
		spf, spfErr = c.checkSPF(ctx, in)
	})
	wg.Go(func() {
		defer recoverTo("dkim", &dk.err, func() { dk = dkimOutcome{verdict: event.Verdict{Result: TempError}, temp: true} })
		dk = c.checkDKIM(ctx, msg, hasSig, from)
	})
	if from != "" {
		wg.Go(func() {
			defer recoverTo("dmarc", &pol.err, func() { pol = policy{result: TempError} })
			pol = c.lookupPolicy(ctx, from)
		})
	}
	wg.Wait()
	var budgetErr error
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		budgetErr = fmt.Errorf("mailauth: check: %w", ErrBudget)
	} else if err != nil {
		budgetErr = fmt.Errorf("mailauth: check: %w", err)
	}
	return outcomes{spf: spf, dkim: dk, policy: pol, errs: []error{budgetErr, spfErr, dk.err, pol.err}}
}

// viaForwarder puts in res the SPF and DKIM results of the trusted
// forwarder that relayed the mail, if any: the one named in in, else the
// one the connecting IP or res's passing domains identify. It returns the
// forwarder's own DMARC verdict, empty when it gave none, and an error
// when its results are missing or unusable, in which case res keeps ours.
func (c *Checker) viaForwarder(res *Result, in Input, fs []field) (event.Verdict, error) {
	f := in.Forwarder
	if f == nil || f.AuthServID == "" {
		f = c.forwarderFor(in.RemoteIP, res.SPF, res.DKIMDomains)
	}
	if f == nil {
		return event.Verdict{}, nil
	}
	t, err := forwarderResults(fs, f.AuthServID)
	if err != nil {
		return event.Verdict{}, fmt.Errorf("mailauth: forwarder %s: %w", f.Name, err)
	}
	res.SPF, res.DKIM, res.DKIMDomains = merge(*res, t)
	res.Via = f.Name
	return t.dmarc, nil
}

// recoverTo, deferred in the goroutine of a check, turns a panic in the
// libraries on a hostile mail into a temperror (set by fallback) and an
// error. A panic there would otherwise end the whole server: the SMTP
// session's recover cannot reach another goroutine. Temperror rather than
// permerror, so that a sender retries while the bug is fixed.
func recoverTo(check string, err *error, fallback func()) {
	if p := recover(); p != nil {
		fallback()
		*err = fmt.Errorf("mailauth: %s: internal error: %v", check, p)
	}
}
