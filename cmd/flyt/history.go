package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/history"
)

// historyFilter holds the filter flags `flyt history` and `flyt history export` share.
type historyFilter struct {
	team, app, env, state, trigger, commit string
	since, until                           string
}

func (f *historyFilter) bindFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.team, "team", "", "only deploys of this team")
	fs.StringVar(&f.app, "app", "", "only deploys of this app")
	fs.StringVar(&f.env, "env", "", "only deploys to this environment")
	fs.StringVar(&f.state, "state", "", "only deploys in this state: queued, in_progress, success, failure, error, inactive")
	fs.StringVar(&f.trigger, "trigger", "", "only deploys with this trigger: push, poll, promotion, auto-promotion, rollback, manual, drift")
	fs.StringVar(&f.commit, "commit", "", "only deploys of this commit (full SHA or at least 7 characters)")
	fs.StringVar(&f.since, "since", "", "only deploys started at or after this time: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (24h)")
	fs.StringVar(&f.until, "until", "", "only deploys started before this time: RFC 3339 or a duration ago")
}

// query turns the flags into API query parameters, resolving durations against now.
func (f *historyFilter) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	for k, v := range map[string]string{"team": f.team, "app": f.app, "env": f.env, "state": f.state, "trigger": f.trigger, "commit": f.commit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for name, v := range map[string]string{"since": f.since, "until": f.until} {
		if v == "" {
			continue
		}
		t, err := parseWhen(now, v)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
		q.Set(name, t.UTC().Format(time.RFC3339))
	}
	return q, nil
}

// parseWhen reads an RFC 3339 time or a duration before now ("24h", "90m").
func parseWhen(now time.Time, v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", v)
	}
	return t, nil
}

func newHistoryCommand() *cobra.Command {
	var (
		co     clientOptions
		f      historyFilter
		out    outputFormat
		limit  int
		cursor string
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List deploys, newest first",
		Long: `List deploys recorded by a flyt server, newest first, filtered by team, app, environment,
state, trigger, commit and time. One page of --limit deploys is shown; the command prints how
to get the next page. Use "flyt history export" for everything.`,
		Example: `  flyt history --app dp-behandling --env prod
  flyt history --team dagpenger --state failure --since 168h -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			q.Set("limit", strconv.Itoa(limit))
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page history.Page
			if err := co.client().do(cmd.Context(), "GET", "/deploys", q, nil, &page); err != nil {
				return fmt.Errorf("list deploys: %w", err)
			}
			err = out.print(cmd.OutOrStdout(), page, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tAPP\tENV\tCOMMIT\tSTATE\tTRIGGER\tBY\tSTARTED\tDURATION\tMESSAGE")
				for _, d := range page.Deploys {
					dur := "-"
					if !d.FinishedAt.IsZero() {
						dur = d.FinishedAt.Sub(d.StartedAt).Round(time.Second).String()
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.App, d.Environment, shortSHA(d.Commit),
						d.State, d.Trigger, orDash(d.TriggeredBy), tableTime(d.StartedAt), dur, orDash(oneLine(d.Message, 60)))
				}
			})
			if err != nil {
				return err
			}
			if out == "table" {
				if len(page.Deploys) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No deploys found.")
				} else if page.Next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "More deploys: add --cursor %s\n", page.Next)
				}
			}
			return nil
		},
	}
	co.bindFlags(cmd)
	f.bindFlags(cmd)
	bindOutput(cmd, &out)
	cmd.Flags().IntVar(&limit, "limit", history.DefaultLimit, fmt.Sprintf("deploys per page (at most %d)", history.MaxLimit))
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue after a previous page (printed at its end)")
	cmd.AddCommand(newHistoryExportCommand())
	return cmd
}

// oneLine shortens a message to its first line and at most n runes, for tables.
func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// exportColumns are the CSV columns of `flyt history export --format csv`.
var exportColumns = []string{"id", "app", "team", "environment", "cluster", "repository", "commit", "commit_author",
	"commit_time", "trigger", "triggered_by", "reason", "forced", "state", "message", "images", "digest", "started_at", "finished_at"}

func exportRow(d history.Deploy) []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return []string{strconv.FormatInt(d.ID, 10), d.App, d.Team, d.Environment, d.Cluster, d.Repository, d.Commit, d.CommitAuthor,
		ts(d.CommitTime), string(d.Trigger), d.TriggeredBy, d.Reason, strconv.FormatBool(d.Forced), string(d.State), d.Message,
		strings.Join(d.Images, " "), d.Digest, ts(d.StartedAt), ts(d.FinishedAt)}
}

func newHistoryExportCommand() *cobra.Command {
	var (
		co     clientOptions
		f      historyFilter
		format string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every matching deploy as CSV or JSON",
		Long: `Write every deploy that matches the filters, newest first, as CSV (one row per deploy, with
a header) or as a JSON array. Pages are fetched and written one at a time, so the whole
history never has to fit in memory.`,
		Example: `  flyt history export --format csv --team dagpenger --since 8760h > dagpenger.csv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "json" {
				return fmt.Errorf("--format %q: want csv or json", format)
			}
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			q.Set("limit", strconv.Itoa(history.MaxLimit))
			w := cmd.OutOrStdout()
			cw := csv.NewWriter(w)
			n := 0
			if format == "csv" {
				if err := cw.Write(exportColumns); err != nil {
					return fmt.Errorf("write CSV: %w", err)
				}
			} else if _, err := fmt.Fprint(w, "["); err != nil {
				return fmt.Errorf("write JSON: %w", err)
			}
			c := co.client()
			for {
				var page history.Page
				if err := c.do(cmd.Context(), "GET", "/deploys", q, nil, &page); err != nil {
					return fmt.Errorf("export deploys (after %d written): %w", n, err)
				}
				for _, d := range page.Deploys {
					if format == "csv" {
						err = cw.Write(exportRow(d))
					} else {
						err = writeJSONElement(w, n, d)
					}
					if err != nil {
						return fmt.Errorf("write deploy %d: %w", d.ID, err)
					}
					n++
				}
				cw.Flush()
				if err := cw.Error(); err != nil {
					return fmt.Errorf("write CSV: %w", err)
				}
				if page.Next == "" {
					break
				}
				q.Set("cursor", page.Next)
			}
			if format == "json" {
				end := "]\n"
				if n > 0 {
					end = "\n]\n"
				}
				if _, err := fmt.Fprint(w, end); err != nil {
					return fmt.Errorf("write JSON: %w", err)
				}
			}
			return nil
		},
	}
	co.bindFlags(cmd)
	f.bindFlags(cmd)
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	return cmd
}

// writeJSONElement writes the i-th element of a JSON array being streamed.
func writeJSONElement(w interface{ Write([]byte) (int, error) }, i int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\n  "
	if i == 0 {
		sep = "\n  "
	}
	if _, err := fmt.Fprint(w, sep); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
