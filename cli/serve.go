package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qoo10hook/qoo10hook/app"
)

// serve runs the service until ctx ends.
func (c *CLI) serve(ctx context.Context, args []string) error {
	fs, path := c.flags("serve")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := c.load(*path)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, c.Stderr)
	limitMemory(cfg, c.Getenv)
	svc, err := app.New(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	return svc.Run(ctx)
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

// localAddr is the address to reach a listener bound to addr from this
// machine.
func localAddr(addr string) string {
	if strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "0.0.0.0:") || strings.HasPrefix(addr, "[::]:") {
		return "127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	}
	return addr
}
