package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/route"
	"github.com/qoo10hook/qoo10hook/store"
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
		if r := Revision(); r != "" {
			fmt.Fprintf(c.Stdout, "qoo10hook %s (%s)\n", Version(), r)
		} else {
			fmt.Fprintln(c.Stdout, "qoo10hook", Version())
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

func (c *CLI) serve(ctx context.Context, args []string) error {
	fs, path := c.flags("serve")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	log := NewLogger(cfg.Log, c.Stderr)
	limitMemory(cfg, c.Getenv)
	svc, err := New(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

func (c *CLI) checkConfig(args []string) error {
	fs, path := c.flags("check-config")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	if _, err := NewParser(cfg); err != nil {
		return err
	}
	if cfg.File != "" {
		fmt.Fprintf(c.Stdout, "# configuration from %s and the environment\n", cfg.File)
	} else {
		fmt.Fprintln(c.Stdout, "# configuration from defaults and the environment (no file)")
	}
	return cfg.Write(c.Stdout)
}

// parse prints, for each file, the event the service would post for it.
func (c *CLI) parse(args []string) error {
	fs, path := c.flags("parse")
	to := fs.String("to", "", "as if sent to these envelope recipients (`ADDR[,ADDR…]`): the events carry their routes' tenants, one per route, as the service posts them")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("name at least one .eml file")}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	parser, err := NewParser(cfg)
	if err != nil {
		return err
	}
	// Without --to, one event without a tenant, addressed as the mail's
	// header says.
	groups := []route.Group{{Route: &route.Route{}}}
	var rcpts []string
	if *to != "" {
		table := route.New(routeOptions(cfg, nil))
		for _, rc := range strings.Split(*to, ",") {
			rc = strings.TrimSpace(rc)
			if table.Match(rc) == nil {
				return fmt.Errorf("%s is not routed: the service refuses it with 550 5.1.1", rc)
			}
			rcpts = append(rcpts, rc)
		}
		groups = table.Groups(rcpts)
	}
	var failed []string
	for _, name := range fs.Args() {
		raw, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(c.Stderr, "qoo10hook parse: %v\n", err)
			failed = append(failed, name)
			continue
		}
		res := parser.Parse(raw)
		if res.Err != nil {
			fmt.Fprintf(c.Stderr, "qoo10hook parse: %s: not a mail message: %v\n", name, res.Err)
			failed = append(failed, name)
			continue
		}
		for _, g := range groups {
			ev := ingest.BuildEvent(res, ingest.Meta{Tenant: g.Route.Tenant, To: g.Rcpts, ReceivedAt: time.Now(),
				DedupKey: ingest.DedupKey(res, raw, rcpts)})
			line, err := event.Marshal(ev)
			if err != nil {
				return err
			}
			c.Stdout.Write(append(line, '\n'))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files could not be read as mail: %s", len(failed), fs.NArg(), strings.Join(failed, ", "))
	}
	return nil
}

func (c *CLI) openStore(ctx context.Context, path string) (*store.Store, error) {
	cfg, err := c.load(path)
	if err != nil {
		return nil, err
	}
	return openExistingStore(ctx, cfg)
}

// openExistingStore opens the service's store for a command that reads or
// changes it. It never creates an SQLite file: run from the wrong
// directory, or without the service's configuration, a command would
// otherwise report on a new, empty store as if nothing had happened.
func openExistingStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	su, err := store.ParseURL(cfg.Store.URL)
	if err != nil {
		return nil, err
	}
	if su.Kind == store.SQLite {
		if _, err := os.Stat(su.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no store at %s: set QOO10HOOK_STORE or --config", displayPath(su.Path))
		}
	}
	return store.Open(ctx, store.Options{URL: su})
}

// displayPath shows a relative path as relative to the current directory.
func displayPath(p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, ".") {
		return p
	}
	return "." + string(filepath.Separator) + p
}

func (c *CLI) deliveries(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("say list, show, retry, resend or retry-all-failed")}
	}
	fs, path := c.flags("deliveries " + args[0])
	status := fs.String("status", "", "only deliveries in this `status` (pending, delivered, failed, dead, held; several with commas: failed,dead)")
	endpoint := fs.String("endpoint", "", "only deliveries to this endpoint `name`")
	limit := fs.Int("limit", 50, "at most `N` deliveries")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	st, err := c.openStore(ctx, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "list":
		ds, err := st.ListDeliveries(ctx, store.DeliveryFilter{Status: *status, Endpoint: *endpoint, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(c.Stdout)
			for _, d := range ds {
				enc.Encode(d)
			}
			return nil
		}
		fmt.Fprintf(c.Stdout, "%-8s %-10s %-20s %-24s %-28s %8s  %s\n", "ID", "STATUS", "ENDPOINT", "TYPE", "EVENT", "ATTEMPTS", "LAST")
		for _, d := range ds {
			last := d.LastError
			if last == "" && d.LastStatus != 0 {
				last = fmt.Sprint(d.LastStatus)
			}
			fmt.Fprintf(c.Stdout, "%-8d %-10s %-20s %-24s %-28s %8d  %s\n", d.ID, d.Status, d.Endpoint, d.EventType, d.EventID, d.Attempts, last)
		}
	case "show":
		if fs.NArg() != 1 {
			return usageError{errors.New("name one delivery id")}
		}
		id, err := parseID(fs.Arg(0))
		if err != nil {
			return err
		}
		d, attempts, err := st.GetDelivery(ctx, id)
		if err != nil {
			return err
		}
		payload, err := st.EventPayload(ctx, d.EventID)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(struct {
			*store.Delivery
			Attempts []store.Attempt `json:"attempt_log"`
			Event    json.RawMessage `json:"event"`
		}{d, attempts, payload})
	case "retry":
		return c.eachDelivery(ctx, fs.Args(), st.RetryDelivery, "queued for retry")
	case "resend":
		return c.eachDelivery(ctx, fs.Args(), st.ResendDelivery, "queued to be sent again")
	case "retry-all-failed":
		n, err := st.RetryAllFailed(ctx, *endpoint)
		fmt.Fprintf(c.Stdout, "%d deliveries queued for retry\n", n)
		return err
	default:
		return usageError{fmt.Errorf("unknown subcommand %q", args[0])}
	}
	return nil
}

func parseID(s string) (int64, error) {
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%q is not a delivery id", s)}
	}
	return id, nil
}

// healthcheck asks the running service's /readyz, for Docker's HEALTHCHECK.
func (c *CLI) healthcheck(ctx context.Context, args []string) error {
	fs, path := c.flags("healthcheck")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	addr := localAddr(cfg.HTTP.Addr)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if tok := cfg.HTTP.AdminToken.Reveal(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok) // for the reason, when not ready
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s", strings.TrimSpace(string(body)))
	}
	fmt.Fprint(c.Stdout, string(body))
	return nil
}

func (c *CLI) secret() error {
	key := make([]byte, 32)
	rand.Read(key)
	fmt.Fprintln(c.Stdout, "whsec_"+base64.StdEncoding.EncodeToString(key))
	return nil
}

// eachDelivery applies do to each delivery id named in args, saying what
// became of each.
func (c *CLI) eachDelivery(ctx context.Context, args []string, do func(context.Context, int64) error, done string) error {
	if len(args) == 0 {
		return usageError{errors.New("name at least one delivery id")}
	}
	for _, a := range args {
		id, err := parseID(a)
		if err != nil {
			return err
		}
		if err := do(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "delivery %d %s\n", id, done)
	}
	return nil
}
