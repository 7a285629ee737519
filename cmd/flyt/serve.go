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
	var cr serve.ConfigRepository
	var logLevel string
	var leaderElect bool
	var le serve.LeaderElection
	cmd := &cobra.Command{
		Use:   "serve --config platform.yaml",
		Short: "Run the flyt controller: watch repositories, deploy, serve the API, UI, webhooks and metrics",
		Long: `serve runs flyt: it watches every team repository in the platform config, deploys
changes to the environments they feed, records every deploy in the history store, and serves
the HTTP API (/api/v1), the web UI (/), webhooks (/webhook/github), /metrics, /healthz and
/readyz. Logs are JSON on stderr. The platform config is reloaded when it changes; a bad new
version is reported and the old one stays in force.

With --leader-elect, several replicas share the platform: they elect a leader through a
Kubernetes Lease, only the leader polls Git and deploys, and every replica serves the API, UI,
webhooks and metrics (a follower forwards webhooks and operator actions to the leader). The
replicas must share a PostgreSQL history store (--history postgres://…); SQLite is for a single
replica. A leader that loses its Lease exits, so that its restart follows the new leader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			opts.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if cr.Repository.URL != "" {
				opts.ConfigRepository = &cr
			}
			if leaderElect {
				opts.LeaderElection = &le
			}
			return serve.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cr.Repository.URL, "config-repo", "", "read the platform config from this Git repository and follow it (instead of --config)")
	f.StringVar(&cr.Repository.Branch, "config-branch", "main", "branch of --config-repo")
	f.StringVar(&cr.Path, "config-path", "platform.yaml", "path of the platform config in --config-repo")
	f.StringVar(&cr.Repository.TokenFile, "config-token-file", "", "HTTPS token file for --config-repo")
	f.StringVar(&cr.Repository.SSHKeyFile, "config-ssh-key-file", "", "SSH key file for --config-repo")
	f.StringVar(&cr.Repository.KnownHostsFile, "config-known-hosts-file", "", "known_hosts file for --config-repo over SSH")
	f.StringVar(&cr.CacheDir, "config-cache-dir", "flyt-data/platform", "where the --config-repo cache and checked-out file live")
	f.StringVar(&opts.ConfigFile, "config", "platform.yaml", "platform config file")
	f.StringVar(&opts.Listen, "listen", "", "listen address (overrides server.listen)")
	f.StringVar(&opts.HistoryDSN, "history", "", "history store DSN (overrides server.historyDSN)")
	f.IntVar(&opts.Workers, "workers", 0, "deploys running at once (overrides server.workers)")
	f.IntVar(&opts.TeamWorkers, "team-workers", 0, "workers one team's deploys may hold at once (overrides server.teamWorkers; default max(1, workers/4))")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight deploys may finish at shutdown")
	f.BoolVar(&opts.Pprof, "pprof", false, "serve Go runtime profiles under /debug/pprof/ on the listener (only where it is private)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&leaderElect, "leader-elect", false, "elect a leader among replicas through a Kubernetes Lease; only the leader reconciles (needs a PostgreSQL history)")
	f.StringVar(&le.Namespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's own namespace)")
	f.StringVar(&le.Kubeconfig, "leader-election-kubeconfig", "", "kubeconfig of the cluster holding the Lease (default: in-cluster service account)")
	f.StringVar(&le.Name, "leader-election-name", serve.DefaultLeaseName, "name of the Lease")
	f.StringVar(&le.Identity, "advertise-url", "", "this replica's base URL as the other replicas reach it, e.g. http://$(POD_IP):8080; its identity in the Lease (required with --leader-elect)")
	f.DurationVar(&le.LeaseDuration, "leader-election-lease-duration", serve.DefaultLeaseDuration, "how long followers wait after the leader's last renewal before taking over")
	f.DurationVar(&le.RenewDeadline, "leader-election-renew-deadline", serve.DefaultRenewDeadline, "how long the leader retries renewing before it gives up (and exits)")
	f.DurationVar(&le.RetryPeriod, "leader-election-retry-period", serve.DefaultRetryPeriod, "how often the leader renews and followers try to acquire")
	return cmd
}
