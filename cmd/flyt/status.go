package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/history"
)

func newStatusCommand() *cobra.Command {
	var (
		co   clientOptions
		out  outputFormat
		team string
	)
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show what runs where: the apps × environments matrix, or one app per environment",
		Long: `Without APP, show every app (or a team's, with --team) with the revision each environment runs
and the state of its newest deploy. With APP, show per environment what runs, what should run,
and why (promoted by whom, held by a window or a freeze, a deploy in progress).`,
		Example: `  flyt status
  flyt status dp-behandling -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c := co.client()
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				var st api.AppStatus
				if err := c.do(cmd.Context(), "GET", "/apps/"+url.PathEscape(args[0])+"/status", nil, nil, &st); err != nil {
					return fmt.Errorf("status of %s: %w", args[0], err)
				}
				return out.print(w, st, func(tw *tabwriter.Writer) { appStatusTable(tw, st) })
			}
			q := url.Values{}
			if team != "" {
				q.Set("team", team)
			}
			var cur []history.Current
			if err := c.do(cmd.Context(), "GET", "/current", q, nil, &cur); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			var envs []api.EnvironmentInfo
			if err := c.do(cmd.Context(), "GET", "/environments", nil, nil, &envs); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			return out.print(w, cur, func(tw *tabwriter.Writer) { matrixTable(tw, cur, envs) })
		},
	}
	co.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().StringVar(&team, "team", "", "only this team's apps (without APP)")
	return cmd
}

// appStatusTable prints one app's environments.
func appStatusTable(tw *tabwriter.Writer, st api.AppStatus) {
	fmt.Fprintln(tw, "ENV\tRUNS\tSHOULD RUN\tSYNC\tNEWEST\tWHY")
	for _, e := range st.Environments {
		runs, newest := "-", "-"
		if e.Running != nil {
			runs = shortSHA(e.Running.Commit)
		}
		if e.Latest != nil {
			newest = fmt.Sprintf("#%d %s", e.Latest.ID, e.Latest.State)
		}
		sync := "out of sync"
		if e.InSync {
			sync = "in sync"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Environment, runs, shortSHA(e.ShouldRun), sync, newest, orDash(e.Why))
	}
}

// matrixTable prints apps as rows and environments as columns: the running revision, and the
// newest deploy's revision and state when it is not that one.
func matrixTable(tw *tabwriter.Writer, cur []history.Current, envs []api.EnvironmentInfo) {
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	for _, c := range cur {
		if !slices.Contains(names, c.Environment) {
			names = append(names, c.Environment)
		}
	}
	frozen := map[string]bool{}
	for _, e := range envs {
		frozen[e.Name] = e.Frozen
	}
	head := []string{"APP", "TEAM"}
	for _, n := range names {
		h := strings.ToUpper(n)
		if frozen[n] {
			h += " (FROZEN)"
		}
		head = append(head, h)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	type row struct {
		team  string
		cells map[string]string
	}
	rows := map[string]*row{}
	var apps []string
	for _, c := range cur {
		r := rows[c.App]
		if r == nil {
			r = &row{team: c.Team, cells: map[string]string{}}
			rows[c.App] = r
			apps = append(apps, c.App)
		}
		r.cells[c.Environment] = cell(c)
	}
	for _, a := range apps {
		line := []string{a, rows[a].team}
		for _, n := range names {
			line = append(line, orDash(rows[a].cells[n]))
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
}

// cell is one matrix cell: "bbbbbbb" when the newest deploy is the running one, else
// "bbbbbbb -> ccccccc failure".
func cell(c history.Current) string {
	if c.LastSuccess != nil && c.Latest != nil && c.LastSuccess.ID == c.Latest.ID {
		return shortSHA(c.LastSuccess.Commit)
	}
	running := "-"
	if c.LastSuccess != nil {
		running = shortSHA(c.LastSuccess.Commit)
	}
	if c.Latest == nil {
		return running
	}
	return fmt.Sprintf("%s -> %s %s", running, shortSHA(c.Latest.Commit), c.Latest.State)
}
