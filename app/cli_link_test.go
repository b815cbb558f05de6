package app_test

import (
	"context"
	"io"

	"github.com/qoo10hook/qoo10hook/app"
	"github.com/qoo10hook/qoo10hook/cli"
)

// The tests of package app that run a command against a running service
// reach the command line through app.RunCommandLine.
func init() {
	app.RunCommandLine = func(ctx context.Context, stdout, stderr io.Writer, getenv func(string) string, args []string) int {
		c := &cli.CLI{Stdout: stdout, Stderr: stderr, Getenv: getenv}
		return c.Run(ctx, args)
	}
}
