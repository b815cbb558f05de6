// Package cli is qoo10hook's command line: serve, and the commands
// operators run beside the service.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/config"
)

// CLI runs the qoo10hook command line.
type CLI struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

const usage = `qoo10hook turns Qoo10 Japan notification mails into signed JSON webhooks.

Usage:
  qoo10hook serve [--config FILE]          run the service
  qoo10hook parse [--config FILE] [--to ADDR,...] FILE.eml...
                                           print each mail's event as one JSON line
  qoo10hook check-config [--config FILE]   validate and print the effective configuration
  qoo10hook deliveries list [--status S] [--endpoint E] [--limit N] [--json]
  qoo10hook deliveries show ID
  qoo10hook deliveries retry ID...
  qoo10hook deliveries resend ID...        deliver delivered events again (same webhook-id)
  qoo10hook deliveries retry-all-failed [--endpoint E]
  qoo10hook reparse [--dry-run] [--status S,...] [--since T] [--until T] [--seller ID] [ID...]
                                           read stored mails again with the running service's templates
  qoo10hook catalog import --seller ID FILE.csv...
                                           import QSM's GoodsList.csv / InventoryManagement_gridInventory.csv
  qoo10hook catalog stock [--seller ID] [--below N] [--json]
                                           print the running stock per SKU
  qoo10hook catalog export [--seller ID] [--kind goods|options] [--out FILE]
                                           write the imported CSV back with the current stock
  qoo10hook orders export [--seller ID] [--state S] [--from DATE] [--to DATE] [--search Q]
                         [--encoding utf-8|cp932] [--out FILE]
                                           write the orders as CSV, one row per line, to ship them
  qoo10hook healthcheck [--config FILE]    exit 0 when the running service is ready
` + lifetimeUsage + `  qoo10hook address [--config FILE] [--domain D] SELLER...
                                           print a seller's vendor-mode address (J·QSM 送信先)
  qoo10hook secret                         print a new webhook signing secret
  qoo10hook version

The configuration file may also be named by QOO10HOOK_CONFIG; every setting
has a QOO10HOOK_* environment twin (see docs/configuration.md).
`

// Run executes args (without the program name) and returns the exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "erase", "backup", "restore":
		err = c.lifetimeCommand(ctx, args[0], args[1:])
	case "serve":
		err = c.serve(ctx, args[1:])
	case "parse":
		err = c.parse(args[1:])
	case "check-config":
		err = c.checkConfig(args[1:])
	case "deliveries":
		err = c.deliveries(ctx, args[1:])
	case "reparse":
		err = c.reparse(ctx, args[1:])
	case "catalog":
		err = c.catalog(ctx, args[1:])
	case "orders":
		err = c.orders(ctx, args[1:])
	case "healthcheck":
		err = c.healthcheck(ctx, args[1:])
	case "secret":
		err = c.secret()
	case "address":
		err = c.address(args[1:])
	case "version":
		if r := app.Revision(); r != "" {
			fmt.Fprintf(c.Stdout, "qoo10hook %s (%s)\n", app.Version(), r)
		} else {
			fmt.Fprintln(c.Stdout, "qoo10hook", app.Version())
		}
	case "help", "-h", "--help":
		fmt.Fprint(c.Stdout, usage)
	default:
		fmt.Fprintf(c.Stderr, "qoo10hook: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(c.Stderr, "qoo10hook %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(c.Stderr, "qoo10hook %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func (c *CLI) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	path := fs.String("config", c.Getenv("QOO10HOOK_CONFIG"), "configuration `FILE` (YAML)")
	return fs, path
}

func (c *CLI) load(path string) (*config.Config, error) {
	return config.Load(path, c.Getenv)
}

func (c *CLI) secret() error {
	key := make([]byte, 32)
	rand.Read(key)
	fmt.Fprintln(c.Stdout, "whsec_"+base64.StdEncoding.EncodeToString(key))
	return nil
}
