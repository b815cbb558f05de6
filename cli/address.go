package cli

import (
	"errors"
	"fmt"
	"slices"

	"github.com/qoo10hook/qoo10hook/route"
)

// address prints a seller's vendor-mode address, to paste into J·QSM's
// 送信先 (send-to) field of the seller's notification templates.
func (c *CLI) address(args []string) error {
	fs, path := c.flags("address")
	domain := fs.String("domain", "", "vendor `DOMAIN` to use (default: the first of vendor.domains)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name at least one seller id")}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	v := cfg.Vendor
	if !v.Enabled() {
		return errors.New("vendor mode is not configured: set vendor.domains and vendor.key (QOO10HOOK_VENDOR_DOMAINS, QOO10HOOK_VENDOR_KEY)")
	}
	d := v.Domains[0]
	if *domain != "" {
		if !slices.Contains(v.Domains, *domain) {
			return usageError{fmt.Errorf("%q is not one of vendor.domains %v", *domain, v.Domains)}
		}
		d = *domain
	}
	signer := route.NewSigner([]byte(v.Key.Reveal()), v.TokenLength)
	for _, seller := range fs.Args() {
		addr, err := signer.Address(seller, d)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.Stdout, addr)
	}
	return nil
}
