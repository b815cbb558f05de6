package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runReparse drives the console's repair flow: a seller-customised
// order mail the built-ins cannot read arrives (and mail.unrecognized is
// delivered); in the browser an operator opens it from the mails that
// need attention, pastes the seller's template, tries it, saves it and
// re-parses the mail; its order.placed is delivered, once.
func runReparse(ctx context.Context, rx *receiver, smtpAddr, base, token, root, out string) error {
	before := rx.deliveredCount()
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "seller-custom-order.eml"))
	if err != nil {
		return err
	}
	if err := send(smtpAddr, raw); err != nil {
		return fmt.Errorf("send the customised mail: %w", err)
	}
	if err := waitFor(15*time.Second, func() bool { return rx.deliveredCount() == before+1 }); err != nil {
		return fmt.Errorf("mail.unrecognized not delivered: %w", err)
	}
	node := exec.CommandContext(ctx, "node", filepath.Join(root, "e2e", "reparse.mjs"))
	node.Stdout, node.Stderr = os.Stdout, os.Stderr
	node.Env = append(cleanEnv(), "BASE_URL="+base, "ADMIN_TOKEN="+token, "ORDER_CUSTOM=980000001",
		"TEMPLATE_FILE="+filepath.Join(root, "testdata", "seller-custom-order.template.txt"), "OUT_DIR="+filepath.Join(out, "reparse"))
	if err := node.Run(); err != nil {
		return fmt.Errorf("browser test of the repair flow failed (screenshots in %s): %w", out, err)
	}
	if err := waitFor(15*time.Second, func() bool { return rx.deliveredCount() == before+2 }); err != nil {
		return fmt.Errorf("the corrected order was not delivered: %w", err)
	}
	return nil
}
