package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/ingest"
	"github.com/qoo10hook/qoo10hook/route"
)

func (c *CLI) checkConfig(args []string) error {
	fs, path := c.flags("check-config")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	if _, err := app.NewParser(cfg); err != nil {
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
	parser, err := app.NewParser(cfg)
	if err != nil {
		return err
	}
	// Without --to, one event without a tenant, addressed as the mail's
	// header says.
	groups := []route.Group{{Route: &route.Route{}}}
	var rcpts []string
	if *to != "" {
		table := route.New(app.RouteOptions(cfg, nil))
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
