package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flyt-platform/flyt/internal/serve"
)

func newServeCommand() *cobra.Command {
	var opts serve.Options
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve --config platform.yaml",
		Short: "Run the flyt controller: watch repositories, deploy, serve the API, UI, webhooks and metrics",
		Long: `serve runs flyt: it watches every team repository in the platform config, deploys
changes to the environments they feed, records every deploy in the history store, and serves
the HTTP API (/api/v1), the web UI (/), webhooks (/webhook/github), /metrics, /healthz and
/readyz. Logs are JSON on stderr. The platform config is reloaded when it changes; a bad new
version is reported and the old one stays in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			opts.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return serve.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigFile, "config", "platform.yaml", "platform config file")
	f.StringVar(&opts.Listen, "listen", "", "listen address (overrides server.listen)")
	f.StringVar(&opts.HistoryDSN, "history", "", "history store DSN (overrides server.historyDSN)")
	f.IntVar(&opts.Workers, "workers", 0, "deploys running at once (overrides server.workers)")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight deploys may finish at shutdown")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
