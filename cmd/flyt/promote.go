package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/history"
)

func newPromoteCommand() *cobra.Command {
	var (
		co  clientOptions
		out outputFormat
		req api.PromoteRequest
	)
	cmd := &cobra.Command{
		Use:   "promote APP --to ENV",
		Short: "Promote an app's revision into an environment fed by promotion",
		Long: `Promote the revision an app runs successfully in the source environment (or --revision) into
ENV. flyt refuses when the revision never succeeded there, has not run there long enough, a
deny window is open, or ENV is frozen or suspended; the refusal and its reason are printed and
the command exits 1. --force overrides every refusal and is recorded with who and why.`,
		Example: `  flyt promote dp-behandling --to prod
  flyt promote dp-behandling --to prod --revision 3f2a9c1 --force --reason "security fix"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			req.App = args[0]
			var d history.DesiredRevision
			if err := co.client().do(cmd.Context(), "POST", "/promote", nil, req, &d); err != nil {
				if ae, ok := refusal(err); ok {
					printRefusal(cmd, req, ae.body)
					return &exitError{code: 1}
				}
				return fmt.Errorf("promote %s to %s: %w", req.App, req.To, err)
			}
			return printDesired(cmd, out, "promoted", d)
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().StringVar(&req.To, "to", "", "the environment to promote into (required)")
	cmd.Flags().StringVar(&req.Revision, "revision", "", "the commit to promote (default: what the source environment runs)")
	cmd.Flags().BoolVar(&req.Force, "force", false, "override refusals (recorded)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	_ = cmd.MarkFlagRequired("to") // the flag exists
	return cmd
}

// printRefusal tells why a promotion was refused, when it may work, and how to override it.
func printRefusal(cmd *cobra.Command, req api.PromoteRequest, b api.ErrorBody) {
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "promotion of %s to %s refused (%s): %s\n", req.App, req.To, b.Reason, b.Detail)
	if !b.Until.IsZero() {
		fmt.Fprintf(w, "possible from %s\n", b.Until.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w, "--force overrides the refusal; it is recorded with who (--as) and why (--reason)")
}

// printDesired reports a new desired revision.
func printDesired(cmd *cobra.Command, out outputFormat, verb string, d history.DesiredRevision) error {
	return out.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
		forced := ""
		if d.Forced {
			forced = " (forced)"
		}
		fmt.Fprintf(tw, "%s %s %s to %s%s; its deploy is queued\n", d.App, verb, shortSHA(d.Commit), d.Environment, forced)
	})
}
