// Command flyt is the flyt binary: the controller (`flyt serve`) and the tools teams and platform
// operators use beside it (render, validate, diff, deploy, promote, rollback, history, status).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// newRootCommand builds the command tree. Every verb lives in its own file.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "flyt",
		Short:         "flyt deploys teams' applications from Git to Kubernetes environments",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCommand(),
		newRenderCommand(),
		newValidateCommand(),
		newHistoryCommand(), newStatusCommand(), newPromoteCommand(), newRollbackCommand(), newDeployCommand(), newFreezeCommand(), newUnfreezeCommand(),
		newServeCommand(),
		newDiffCommand(),
	)
	return root
}

// exitError carries an exit code other than 1, such as `flyt diff` exiting 1 for "differs" and
// 2 for a failure, the way kubectl diff does.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode prints err the way kubectl does ("error: …" on stderr) and returns the process's exit
// code: 0 on success, the code of an exitError, 1 otherwise.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return 1
}
