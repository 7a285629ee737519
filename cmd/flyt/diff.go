package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/render"
	flytsync "github.com/flyt-platform/flyt/sync"
)

func newDiffCommand() *cobra.Command {
	var o renderOptions
	cmd := &cobra.Command{
		Use:   "diff APP --env ENV [--revision REV] [PATH]",
		Short: "Show what deploying an app would change in an environment, without changing it",
		Long: `diff renders APP from the team repository at PATH (default: the current directory; with
--revision, that Git revision) for ENV, dry-runs it server-side against the environment's
cluster and prints what a deploy would change: objects created, a unified diff of each object
configured, and objects pruned (live objects of the app that the render lacks). Nothing is
written. Like kubectl diff, it exits 0 when there is no difference, 1 when there is one and
above 1 when it fails.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := args[0]
			if len(o.envs) != 1 {
				return &exitError{code: 2, err: errors.New("pass exactly one --env")}
			}
			in, err := o.load(pathArg(args[1:]))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			env := in.platform.Environment(o.envs[0])
			renv := render.NewEnvironment(env, in.team)
			res, err := render.Render(in.repo, app, &renv, in.vars)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("render %s for %s: %w", app, env.Name, err)}
			}
			cfg, err := env.RESTConfig()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			cluster, err := flytsync.NewCluster(env.Name, env.Cluster.Name, cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer cluster.Close()
			changes, err := flytsync.Diff(cmd.Context(), cluster, res.Objects,
				flytsync.Target{App: app, Team: in.team.Name, Environment: env.Name},
				flytsync.Policy{Namespaces: []string{env.TeamNamespace(in.team)}})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			out := cmd.OutOrStdout()
			for _, c := range changes {
				fmt.Fprintf(out, "%s %s\n", c.Subject, c.Action)
				if c.Diff != "" {
					fmt.Fprintln(out, c.Diff)
				}
			}
			if len(changes) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	o.BindFlags(cmd.Flags())
	return cmd
}
