package mailauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/qoo10hook/qoo10hook/event"
)

// dkimOutcome is the best verdict over a mail's signatures and the d= of
// those that passed.
type dkimOutcome struct {
	verdict event.Verdict
	passing []string
	temp    bool // some signature failed temporarily
	err     error
}

// rank orders results from best to worst when several signatures, or
// several results in a forwarder's header, disagree. A temperror ranks
// above fail because a retry may still pass.
var rank = map[string]int{Pass: 0, TempError: 1, Fail: 2, SoftFail: 3, Neutral: 4, PermError: 5, None: 6}

func better(a, b string) bool { return rank[a] < rank[b] }

// checkDKIM verifies up to c.maxSignatures signatures of msg. hasSig
// tells whether the header has any DKIM-Signature field; without one the
// message is not parsed at all. from is used to prefer, among passing
// signatures, one aligned with the From domain for the verdict's Domain.
func (c *Checker) checkDKIM(ctx context.Context, msg []byte, hasSig bool, from string) dkimOutcome {
	if !hasSig {
		return dkimOutcome{verdict: event.Verdict{Result: None}}
	}
	if len(headerOf(msg)) == len(msg) {
		// No empty line: a header without a body, which go-msgauth cannot
		// read. Give it the empty body it has.
		msg = append(msg[:len(msg):len(msg)], "\r\n"...)
	}
	br := &budgetReader{ctx: ctx, r: bytes.NewReader(msg)}
	verifs, err := dkim.VerifyWithOptions(br, &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return c.dns.LookupTXT(ctx, name) },
		MaxVerifications: c.maxSignatures,
	})
	if br.cut {
		return dkimOutcome{verdict: event.Verdict{Result: TempError}, temp: true, err: fmt.Errorf("mailauth: dkim: hashing: %w", ErrBudget)}
	}
	var errs []error
	switch {
	case errors.Is(err, dkim.ErrTooManySignatures):
		errs = append(errs, fmt.Errorf("mailauth: dkim: only %d signatures verified: %w", c.maxSignatures, err))
	case err != nil:
		// The header could not be read, or verification broke off; then
		// go-msgauth clears the error of the signature that broke, so no
		// verification in the list can be trusted.
		return dkimOutcome{verdict: event.Verdict{Result: PermError}, err: fmt.Errorf("mailauth: dkim: %w", err)}
	}
	out := dkimOutcome{verdict: event.Verdict{Result: None}}
	for _, v := range verifs {
		d := normDomain(v.Domain)
		res := Pass
		switch {
		case v.Err == nil:
			out.passing = append(out.passing, d)
		case dkim.IsTempFail(v.Err):
			res = TempError
			out.temp = true
		case dkim.IsPermFail(v.Err):
			res = PermError
		default:
			res = Fail
		}
		if v.Err != nil {
			errs = append(errs, fmt.Errorf("mailauth: dkim d=%s: %s: %w", d, res, v.Err))
		}
		if better(res, out.verdict.Result) ||
			(res == Pass && !aligned(out.verdict.Domain, from, false) && aligned(d, from, false)) {
			out.verdict = event.Verdict{Result: res, Domain: d}
		}
	}
	out.err = errors.Join(errs...)
	return out
}

// budgetReader reads r until ctx is done, then reports the end, so that
// hashing a large message stops at the deadline. It reports io.EOF rather
// than an error because go-msgauth strands its verifier goroutines on a
// read error; cut records that the verdicts so reached mean nothing.
type budgetReader struct {
	ctx context.Context
	r   *bytes.Reader
	cut bool
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.r.Len() > 0 && b.ctx.Err() != nil {
		b.cut = true
		return 0, io.EOF
	}
	return b.r.Read(p)
}
