package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/history"
)

func newRollbackCommand() *cobra.Command {
	var (
		co  clientOptions
		out outputFormat
		req api.RollbackRequest
	)
	cmd := &cobra.Command{
		Use:   "rollback APP --env ENV",
		Short: "Bring an environment back to an earlier revision that succeeded there",
		Long: `Deploy again the revision that succeeded in ENV before the current one, or the one --to names
(a deploy ID or a commit). The deploy is recorded with trigger rollback. Deploy windows and
freezes do not hold rollbacks.`,
		Example: `  flyt rollback dp-behandling --env prod --reason "crash loop after 1.5"
  flyt rollback dp-behandling --env prod --to 4182`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			req.App = args[0]
			var d history.DesiredRevision
			if err := co.client().do(cmd.Context(), "POST", "/rollback", nil, req, &d); err != nil {
				return fmt.Errorf("roll back %s in %s: %w", req.App, req.Environment, err)
			}
			return printDesired(cmd, out, "rolled back to", d)
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().StringVar(&req.Environment, "env", "", "the environment to roll back (required)")
	cmd.Flags().StringVar(&req.To, "to", "", "a deploy ID or commit to go back to (default: the revision before the current one)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	_ = cmd.MarkFlagRequired("env") // the flag exists
	return cmd
}
