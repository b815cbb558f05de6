package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"strings"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/store"
)

// lifetimeUsage documents the data lifetime commands (docs/data-lifetime.md).
const lifetimeUsage = `  qoo10hook erase (--email ADDR | --tel TEL | --name NAME) [--dry-run] [--json]
                                           find one buyer's mails, events and rows and erase their personal data
  qoo10hook backup FILE                    copy the SQLite store, consistently, while the service runs
  qoo10hook restore [--check] [--replace] FILE
                                           check a backup and put it in the store's place (service stopped)
`

// lifetimeCommand runs the data lifetime commands: erase, backup, restore.
func (c *CLI) lifetimeCommand(ctx context.Context, name string, args []string) error {
	switch name {
	case "erase":
		return c.erase(ctx, args)
	case "backup":
		return c.backup(ctx, args)
	}
	return c.restore(ctx, args)
}

func (c *CLI) erase(ctx context.Context, args []string) error {
	fs, path := c.flags("erase")
	var b store.Buyer
	fs.StringVar(&b.Email, "email", "", "the buyer's e-mail `ADDR`")
	fs.StringVar(&b.Tel, "tel", "", "the buyer's phone number `TEL` (compared by its digits)")
	fs.StringVar(&b.Name, "name", "", "the buyer's `NAME` (compared without spaces)")
	dryRun := fs.Bool("dry-run", false, "only report what would be erased")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	set := 0
	for _, v := range []string{b.Email, b.Tel, b.Name} {
		if v != "" {
			set++
		}
	}
	if set != 1 || fs.NArg() != 0 {
		return usageError{errors.New("give exactly one of --email, --tel or --name")}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg, store.Options{Logger: app.NewLogger(cfg.Log, c.Stderr).With("component", "audit")})
	if err != nil {
		return err
	}
	defer st.Close()
	var rep *store.ErasureReport
	if *dryRun {
		rep, err = st.FindBuyer(ctx, b)
	} else {
		rep, err = st.Erase(ctx, b, cliActor())
	}
	if errors.Is(err, store.ErrBadBuyer) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	c.printErasure(rep)
	return nil
}

// cliActor names the operator running the command, for the audit record.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

func (c *CLI) printErasure(rep *store.ErasureReport) {
	verb := "erased"
	if rep.DryRun {
		verb = "would erase (dry run)"
	}
	fmt.Fprintf(c.Stdout, "%s: %d mails, %d events, %d other rows (matched by %s)\n",
		verb, len(rep.Mails), len(rep.Events), len(rep.Rows), rep.MatchedBy)
	for _, m := range rep.Mails {
		fmt.Fprintf(c.Stdout, "  mail  %-8d %-18s %s  %s\n", m.ID, m.QueueID, m.ReceivedAt.UTC().Format("2006-01-02T15:04:05Z"), m.Status)
	}
	for _, e := range rep.Events {
		fmt.Fprintf(c.Stdout, "  event %-28s %-24s mail %d", e.ID, e.Type, e.MailID)
		if len(e.DeliveredTo) > 0 {
			fmt.Fprintf(c.Stdout, "  delivered to %s", strings.Join(e.DeliveredTo, ", "))
		}
		fmt.Fprintln(c.Stdout)
	}
	for _, r := range rep.Rows {
		fmt.Fprintf(c.Stdout, "  row   %s %s\n", r.Table, r.Key)
	}
	if len(rep.DeliveredTo) > 0 {
		fmt.Fprintf(c.Stdout, "already delivered to: %s (webhooks cannot be recalled: ask them to erase their copies)\n",
			strings.Join(rep.DeliveredTo, ", "))
	}
}

func (c *CLI) backup(ctx context.Context, args []string) error {
	fs, path := c.flags("backup")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("name the backup FILE to write")}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	su, _ := store.ParseURL(cfg.Store.URL)
	if err := store.Backup(ctx, su, fs.Arg(0)); err != nil {
		return err
	}
	info, err := store.CheckBackup(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("the backup was written but does not check out: %w", err)
	}
	fmt.Fprintf(c.Stdout, "backed up %s to %s\n", su.Path, fs.Arg(0))
	c.printBackup(info)
	return nil
}

func (c *CLI) restore(ctx context.Context, args []string) error {
	fs, path := c.flags("restore")
	check := fs.Bool("check", false, "only check the backup; change nothing")
	replace := fs.Bool("replace", false, "replace an existing store (it is kept beside it, renamed)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("name the backup FILE to restore")}
	}
	if *check {
		info, err := store.CheckBackup(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "%s checks out\n", fs.Arg(0))
		c.printBackup(info)
		return nil
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	su, _ := store.ParseURL(cfg.Store.URL)
	info, kept, err := store.Restore(ctx, fs.Arg(0), su, *replace)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "restored %s as the store %s\n", fs.Arg(0), su.Path)
	if kept != "" {
		fmt.Fprintf(c.Stdout, "the store it replaced is kept as %s\n", kept)
	}
	c.printBackup(info)
	fmt.Fprintln(c.Stdout, "start the service: it applies pending schema versions, delivers unfinished deliveries, and purges what is past retention")
	return nil
}

func (c *CLI) printBackup(info *store.BackupInfo) {
	fmt.Fprintf(c.Stdout, "  schema version %d", info.SchemaVersion)
	if len(info.Pending) > 0 {
		fmt.Fprintf(c.Stdout, " (this binary adds %v when it opens it)", info.Pending)
	}
	fmt.Fprintf(c.Stdout, "\n  %d bytes, %d mails (%d purged), %d events, %d deliveries (%d unfinished)\n",
		info.Bytes, info.Mails, info.PurgedMails, info.Events, info.Deliveries, info.Unfinished)
	if !info.LastMail.IsZero() {
		fmt.Fprintf(c.Stdout, "  last mail received %s\n", info.LastMail.UTC().Format("2006-01-02T15:04:05Z"))
	}
}
