package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/api"
)

func newFreezeCommand() *cobra.Command {
	var (
		co  clientOptions
		out outputFormat
		req api.FreezeRequest
	)
	cmd := &cobra.Command{
		Use:   "freeze ENV",
		Short: "Hold automatic deploys to an environment until it is unfrozen",
		Long: `Freeze ENV: pushes and automatic promotions to it are held (flyt status shows them as held)
and promotions are refused, until "flyt unfreeze ENV". Rollbacks still go through. The freeze is
recorded in the history store with who and why, so it holds across restarts and failover.`,
		Example: `  flyt freeze prod --reason "Christmas"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setFreeze(cmd, co, out, "POST", args[0], req)
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, shown with everything the freeze holds")
	return cmd
}

func newUnfreezeCommand() *cobra.Command {
	var (
		co  clientOptions
		out outputFormat
	)
	cmd := &cobra.Command{
		Use:     "unfreeze ENV",
		Short:   "Lift a freeze and release the deploys it held",
		Example: `  flyt unfreeze prod`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setFreeze(cmd, co, out, "DELETE", args[0], nil)
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	return cmd
}

// setFreeze freezes (POST) or unfreezes (DELETE) env and prints the outcome.
func setFreeze(cmd *cobra.Command, co clientOptions, out outputFormat, method, env string, body any) error {
	if err := out.validate(); err != nil {
		return err
	}
	var st api.FreezeState
	if err := co.client().do(cmd.Context(), method, "/environments/"+url.PathEscape(env)+"/freeze", nil, body, &st); err != nil {
		verb := "freeze"
		if method == "DELETE" {
			verb = "unfreeze"
		}
		return fmt.Errorf("%s %s: %w", verb, env, err)
	}
	return out.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
		switch {
		case !st.Frozen:
			fmt.Fprintf(tw, "%s unfrozen; held deploys are released\n", st.Environment)
		case st.Reason != "":
			fmt.Fprintf(tw, "%s frozen: %s\n", st.Environment, st.Reason)
		default:
			fmt.Fprintf(tw, "%s frozen\n", st.Environment)
		}
	})
}
