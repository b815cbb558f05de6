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

	msg := in.Message
	if len(msg) == 0 {
		msg = in.Header
	}
	hdr := in.Header
	if len(hdr) == 0 {
		hdr = msg
	}
	fs := fields(headerOf(hdr), "From", "DKIM-Signature", "Authentication-Results", "ARC-Authentication-Results")
	hasSig := false
	for _, f := range fs {
		hasSig = hasSig || f.name == "DKIM-Signature"
	}

	var res Result
	var errs []error
	from, err := fromDomain(fs)
	res.FromDomain = from
	if err != nil {
		errs = append(errs, err)
	}

	// Waiting for all three, rather than returning at the deadline with
	// whatever arrived, is what lets Check promise not to touch in after
	// it returns; the lookups and the hashing are what honour the deadline.
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
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, fmt.Errorf("mailauth: check: %w", ErrBudget))
	} else if err != nil {
		errs = append(errs, fmt.Errorf("mailauth: check: %w", err))
	}
	errs = append(errs, spfErr, dk.err, pol.err)

	res.SPF, res.DKIM, res.DKIMDomains = spf, dk.verdict, dk.passing
	res.tempFailed = spf.Result == TempError || dk.temp
	res.DMARCPolicy = pol.policy
	var fwdDMARC event.Verdict
	f := in.Forwarder
	if f == nil || f.AuthServID == "" {
		f = c.forwarderFor(in.RemoteIP, res.SPF, res.DKIMDomains)
	}
	if f != nil {
		t, err := forwarderResults(fs, f.AuthServID)
		if err != nil {
			errs = append(errs, fmt.Errorf("mailauth: forwarder %s: %w", f.Name, err))
		} else {
			res.SPF, res.DKIM, res.DKIMDomains = merge(res, t)
			res.Via = f.Name
			fwdDMARC = t.dmarc
		}
	}
	res.DMARC = evalDMARC(from, pol, res.SPF, res.DKIM, res.DKIMDomains)
	// A forwarder's own DMARC verdict stands when it is about this From
	// domain; otherwise ours, computed from its SPF and DKIM results.
	if fwdDMARC.Result != "" && from != "" && fwdDMARC.Domain == from {
		res.DMARC = fwdDMARC
	}
	res.Err = errors.Join(errs...)
	return res
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
