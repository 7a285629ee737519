package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/render"
)

func newValidateCommand() *cobra.Command {
	var o renderOptions
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Render a repository for every environment and report every problem",
		Long: `Render the team repository at PATH (default: the current directory) for every environment
it deploys to, and print every error and warning with file:line:column. Exits 1 when any
render fails, and with --strict also when there are warnings. Nothing is applied.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := o.load(pathArg(args))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			warnings := len(in.notes)
			for _, n := range in.notes {
				fmt.Fprintln(w, "warning:", n)
			}
			failed, renders := 0, 0
			for _, oc := range in.renderAll() {
				renders++
				if oc.res != nil {
					for _, wn := range oc.res.Warnings {
						warnings++
						fmt.Fprintf(w, "warning: %s/%s: %s\n", oc.env, oc.app, wn)
					}
				}
				if oc.err != nil {
					failed++
					var problems render.Errors
					if es, ok := oc.err.(render.Errors); ok {
						problems = es
					} else if e, ok := oc.err.(*render.Error); ok {
						problems = render.Errors{e}
					}
					if problems == nil {
						fmt.Fprintf(w, "error: %s/%s: %v\n", oc.env, oc.app, oc.err)
					}
					for _, p := range problems {
						fmt.Fprintf(w, "error: %s/%s: %s\n", oc.env, oc.app, p)
					}
				}
			}
			fmt.Fprintf(w, "%d renders, %d failed, %d warnings\n", renders, failed, warnings)
			switch {
			case failed > 0:
				return &exitError{code: 1}
			case strict && warnings > 0:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	o.BindFlags(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	return cmd
}
