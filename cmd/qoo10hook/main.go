// Command qoo10hook receives Qoo10 notification mails over SMTP and posts them as signed JSON webhooks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/qoo10hook/qoo10hook/cli"
)

func main() {
	privateFiles()
	// A mail is many short-lived allocations (its bytes, its decoded text,
	// its event): a less eager collector saves more CPU than the memory it
	// costs, and a soft limit keeps that memory bounded. GOGC and
	// GOMEMLIMIT set by the operator win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful shutdown; a second one exits
		// at once.
		<-ctx.Done()
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		<-again
		fmt.Fprintln(os.Stderr, "qoo10hook: second signal, exiting now")
		os.Exit(1)
	}()
	c := &cli.CLI{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := c.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
