package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/qoo10hook/qoo10hook/ingest"
)

// reparse asks the running service to read stored mails again, through
// its admin API: the service's templates (file and stored) read them,
// and what changed is delivered by it.
func (c *CLI) reparse(ctx context.Context, args []string) error {
	fs, path := c.flags("reparse")
	dry := fs.Bool("dry-run", false, "say what would change, change nothing")
	status := fs.String("status", "", "mails in these `statuses` (parsed, partial, unrecognized, duplicate_event, quarantined), comma-separated")
	since := fs.String("since", "", "mails received at or after `T` (RFC 3339)")
	until := fs.String("until", "", "mails received before `T` (RFC 3339)")
	seller := fs.String("seller", "", "mails of this seller `ID`")
	limit := fs.Int("limit", 100, "at most `N` mails")
	url := fs.String("url", "", "the service's HTTP `URL` (default: from http.addr)")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	token := cfg.HTTP.AdminToken.Reveal()
	if token == "" {
		return errors.New("no admin token: set http.admin_token (QOO10HOOK_ADMIN_TOKEN) as the service has it")
	}
	body := map[string]any{"dry_run": *dry, "limit": *limit}
	ids := fs.Args()
	if len(ids) > 0 {
		body["ids"] = ids
	}
	if *status != "" {
		body["status"] = strings.Split(*status, ",")
	}
	for k, v := range map[string]string{"since": *since, "until": *until, "seller_id": *seller} {
		if v != "" {
			body[k] = v
		}
	}
	if len(ids) == 0 && *status == "" && *since == "" && *until == "" && *seller == "" {
		return usageError{errors.New("name mail ids, or select mails with --status, --since, --until or --seller")}
	}
	base := *url
	if base == "" {
		base = "http://" + localAddr(cfg.HTTP.Addr)
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/api/v1/messages/reparse", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the service at %s: %w", base, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("the service at %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the service answered %s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	if *asJSON {
		_, err := c.Stdout.Write(out)
		return err
	}
	var rep ingest.ReparseReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("the service's answer: %w", err)
	}
	c.printReparse(&rep)
	return nil
}

func (c *CLI) printReparse(rep *ingest.ReparseReport) {
	fmt.Fprintf(c.Stdout, "%-8s %-18s %-16s %-16s %-8s %s\n", "ID", "QUEUE_ID", "WAS", "NOW", "CHANGED", "DELIVERED")
	for _, r := range rep.Results {
		changed := "no"
		switch {
		case r.Skipped != "":
			changed = "skipped"
		case r.Changed:
			changed = "yes"
		}
		fmt.Fprintf(c.Stdout, "%-8d %-18s %-16s %-16s %-8s %s\n", r.ID, r.QueueID, r.OldStatus, r.Status, changed,
			strings.Join(append(r.Delivered, r.Derived...), ","))
	}
	verb := "changed"
	if rep.DryRun {
		verb = "would change (dry run: nothing was changed)"
	}
	fmt.Fprintf(c.Stdout, "%d mails read again, %d %s\n", rep.Mails, rep.Changed, verb)
}
