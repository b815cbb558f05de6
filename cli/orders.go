package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qoo10hook/qoo10hook/app"
	orderrec "github.com/qoo10hook/qoo10hook/order"
	"github.com/qoo10hook/qoo10hook/orderbook"
	"github.com/qoo10hook/qoo10hook/store"
)

// orders runs "qoo10hook orders export".
func (c *CLI) orders(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		return usageError{errors.New("say export")}
	}
	fs, path := c.flags("orders export")
	var f orderbook.Filter
	fs.StringVar(&f.SellerID, "seller", "", "only the seller `ID`'s orders")
	fs.StringVar(&f.Tenant, "tenant", "", "only the `TENANT`'s orders")
	fs.StringVar(&f.Search, "search", "", "only the orders with this cart or order number, or item code (`Q`)")
	state := fs.String("state", "", "only the orders in `STATE`: "+fmt.Sprint(orderrec.States))
	from := fs.String("from", "", "only the orders placed on or after `DATE` (2026-11-20, Japan time)")
	to := fs.String("to", "", "only the orders placed on or before `DATE`")
	enc := fs.String("encoding", orderbook.UTF8, "utf-8 (with a BOM) or cp932 (for Excel)")
	out := fs.String("out", "", "write to `FILE` instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	f.State = orderrec.State(*state)
	var err error
	if f.PlacedFrom, err = orderbook.ParseTime(*from, false); err != nil {
		return usageError{fmt.Errorf("--from: %w", err)}
	}
	if f.PlacedTo, err = orderbook.ParseTime(*to, true); err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	if err := f.Check(); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	book := orderbook.NewBook(st, st.Kind() == store.Postgres)
	var rows int
	export := func(w io.Writer) error {
		rows, err = book.Export(ctx, w, f, *enc)
		return err
	}
	if *out == "" {
		return export(c.Stdout)
	}
	if err := writeWhole(*out, export); err != nil {
		return err
	}
	fmt.Fprintf(c.Stderr, "wrote %s: %d order lines (%s)\n", *out, rows, *enc)
	return nil
}

// writeWhole writes a file through write so that it appears whole or not
// at all: into a temporary file beside it, synced, then renamed.
func writeWhole(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".qoo10hook-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
