package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/api"
)

func newDeployCommand() *cobra.Command {
	var (
		co  clientOptions
		out outputFormat
		req api.DeployRequest
	)
	cmd := &cobra.Command{
		Use:   "deploy APP --env ENV",
		Short: "Deploy the revision an app should run in an environment again",
		Long: `Queue a deploy of the revision APP should run in ENV, even when nothing changed: to restore
objects someone edited by hand, or to retry after the platform failed. It is recorded with
trigger manual.`,
		Example: `  flyt deploy dp-behandling --env dev --reason "secret rotated"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			req.App = args[0]
			var a api.Accepted
			if err := co.client().do(cmd.Context(), "POST", "/deploy", nil, req, &a); err != nil {
				return fmt.Errorf("deploy %s to %s: %w", req.App, req.Environment, err)
			}
			return out.print(cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s: %s\n", a.App, a.Message)
			})
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().StringVar(&req.Environment, "env", "", "the environment (required)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	_ = cmd.MarkFlagRequired("env") // the flag exists
	return cmd
}
