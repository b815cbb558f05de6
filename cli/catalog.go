package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/inventory"
	"github.com/qoo10hook/qoo10hook/store"
)

// catalog runs "qoo10hook catalog import|stock|export".
func (c *CLI) catalog(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("say import, stock or export")}
	}
	fs, path := c.flags("catalog " + args[0])
	seller := fs.String("seller", "", "the seller `ID` (販売者ID) the catalog belongs to")
	var below *int64
	var out, kind *string
	var asJSON *bool
	var partial *bool
	switch args[0] {
	case "import":
		partial = fs.Bool("partial", false, "import the good rows of a file with bad rows (without it a bad row refuses the import)")
	case "stock":
		fs.Func("below", "only SKUs whose stock is less than `N`", func(s string) error {
			var n int64
			if _, err := fmt.Sscan(s, &n); err != nil {
				return fmt.Errorf("%q is not a whole number", s)
			}
			below = &n
			return nil
		})
		asJSON = fs.Bool("json", false, "print JSON lines")
	case "export":
		out = fs.String("out", "", "write to `FILE` instead of standard output")
		kind = fs.String("kind", "", "the file to export when the seller has both: goods (GoodsList.csv) or options (InventoryManagement_gridInventory.csv)")
	default:
		return usageError{fmt.Errorf("unknown subcommand %q (say import, stock or export)", args[0])}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	switch {
	case args[0] == "import" && fs.NArg() == 0:
		return usageError{errors.New("name at least one CSV file")}
	case args[0] == "import" && *seller == "":
		return usageError{errors.New("name the seller the catalog belongs to with --seller ID")}
	case args[0] != "import" && fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}

	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := inventory.NewService(st, app.InventorySettings(cfg))
	if err != nil {
		return err
	}
	switch args[0] {
	case "import":
		return c.catalogImport(ctx, svc, *seller, fs.Args(), inventory.ImportOptions{Partial: *partial})
	case "stock":
		return c.catalogStock(ctx, svc, *seller, below, *asJSON)
	default:
		return c.catalogExport(ctx, svc, *seller, *kind, *out)
	}
}

// catalogImport imports the files, prints what it did and lists the rows
// it left out (or that refused the import) on standard error.
func (c *CLI) catalogImport(ctx context.Context, svc *inventory.Service, seller string, names []string, o inventory.ImportOptions) error {
	var uploads []inventory.Upload
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		uploads = append(uploads, inventory.Upload{Name: name, Body: f})
	}
	rep, err := svc.Import(ctx, seller, uploads, o)
	var rejected *inventory.RejectedError
	if errors.As(err, &rejected) {
		for _, f := range rejected.Report.Files {
			for _, e := range f.Errors {
				fmt.Fprintln(c.Stderr, e.String())
			}
		}
	}
	if err != nil {
		return err
	}
	for _, f := range rep.Files {
		for _, e := range f.Errors {
			fmt.Fprintln(c.Stderr, e.String())
		}
		fmt.Fprintf(c.Stdout, "%s: %s file (%s): %d SKUs imported for seller %s (replacing %d), %d bad rows left out\n",
			f.Name, f.Kind, f.Encoding, f.Imported, rep.SellerID, f.Replaced, len(f.Errors))
	}
	return nil
}

func (c *CLI) catalogStock(ctx context.Context, svc *inventory.Service, seller string, below *int64, asJSON bool) error {
	enc := json.NewEncoder(c.Stdout)
	enc.SetEscapeHTML(false)
	if !asJSON {
		fmt.Fprintf(c.Stdout, "%-20s %-28s %8s %8s %-4s  %s\n", "SELLER", "SKU", "STOCK", "IMPORTED", "LOW", "TITLE")
	}
	f := inventory.StockFilter{SellerID: seller, Below: below}
	for {
		page, err := svc.Stock(ctx, f)
		if err != nil {
			return err
		}
		for _, s := range page.Stock {
			if asJSON {
				enc.Encode(s)
				continue
			}
			low := ""
			if s.Low {
				low = "low"
			}
			title := strings.Join(strings.Fields(s.Title), " ")
			fmt.Fprintf(c.Stdout, "%-20s %-28s %8d %8d %-4s  %s\n", s.SellerID, s.SKU, s.Qty, s.ImportedQty, low, title)
		}
		if page.NextOffset == 0 {
			return nil
		}
		f.Offset = page.NextOffset
	}
}

// catalogExport writes the export to standard output, or to a file that
// appears whole or not at all.
func (c *CLI) catalogExport(ctx context.Context, svc *inventory.Service, seller, kind, out string) error {
	if out == "" {
		_, err := svc.Export(ctx, c.Stdout, seller, kind)
		return err
	}
	var info *inventory.FileInfo
	err := writeWhole(out, func(w io.Writer) error {
		var err error
		info, err = svc.Export(ctx, w, seller, kind)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stderr, "wrote %s: seller %s's %s (%s, %s) with the current stock\n", out, info.SellerID, info.Name, info.Kind, info.Encoding)
	return nil
}

var _ inventory.DB = (*store.Store)(nil)
