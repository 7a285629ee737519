// Command demo shows flyt's main job on two local control planes: `make demo` runs it.
//
// It starts a dev and a prod control plane (two simulated nodes each), serves the example
// team repositories under examples/teams over smart HTTP, runs `flyt serve` in-process with a
// platform config derived from examples/platform.yaml, and then walks through a deploy to dev,
// a promotion to prod, a bad commit that fails in dev with its reason, and a rollback in prod,
// printing each step. It keeps serving the UI until Ctrl-C and then removes everything it
// started. With DEMO_EXIT=1 it exits once the rollback has run (status 0), or as soon as a
// step fails or takes longer than its bound (status 1).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Getenv("DEMO_EXIT") == "1")
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && interrupted {
		fmt.Fprintln(os.Stderr, "✗ demo interrupted before the walkthrough ended")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "✗ demo failed: %v\n", err)
		os.Exit(1)
	}
}
