package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/qoo10hook/qoo10hook/admin"
	"github.com/qoo10hook/qoo10hook/store"
)

// deliveries runs "qoo10hook deliveries list|show|retry|resend|retry-all-failed".
// Every subcommand takes every flag.
func (c *CLI) deliveries(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("say list, show, retry, resend or retry-all-failed")}
	}
	fs, path := c.flags("deliveries " + args[0])
	var f store.DeliveryFilter
	fs.StringVar(&f.Status, "status", "", "only deliveries in this `status` (pending, delivered, failed, dead, held; several with commas: failed,dead)")
	fs.StringVar(&f.Endpoint, "endpoint", "", "only deliveries to this endpoint `name`")
	fs.IntVar(&f.Limit, "limit", 50, "at most `N` deliveries")
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
		return c.listDeliveries(ctx, st, f, *asJSON)
	case "show":
		return c.showDelivery(ctx, st, fs.Args())
	case "retry":
		return c.eachDelivery(ctx, fs.Args(), st.RetryDelivery, "queued for retry")
	case "resend":
		return c.eachDelivery(ctx, fs.Args(), st.ResendDelivery, "queued to be sent again")
	case "retry-all-failed":
		n, err := st.RetryAllFailed(ctx, f.Endpoint)
		fmt.Fprintf(c.Stdout, "%d deliveries queued for retry\n", n)
		return err
	default:
		return usageError{fmt.Errorf("unknown subcommand %q", args[0])}
	}
}

// listDeliveries prints the deliveries f selects, as a table or JSON lines.
func (c *CLI) listDeliveries(ctx context.Context, st *store.Store, f store.DeliveryFilter, asJSON bool) error {
	ds, err := st.ListDeliveries(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
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
	return nil
}

// showDelivery prints the one delivery args names, with its attempts and
// event, as indented JSON.
func (c *CLI) showDelivery(ctx context.Context, st *store.Store, args []string) error {
	if len(args) != 1 {
		return usageError{errors.New("name one delivery id")}
	}
	id, err := parseID(args[0])
	if err != nil {
		return err
	}
	d, err := admin.GetDeliveryDetail(ctx, st, id)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

func parseID(s string) (int64, error) {
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%q is not a delivery id", s)}
	}
	return id, nil
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
