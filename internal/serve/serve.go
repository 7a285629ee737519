// Package serve wires flyt's parts into the long-running controller process (`flyt serve`):
// the platform config (reloaded on change), the history store, the Git poller and the sync
// controller, inbound webhooks, outbound GitHub statuses and notifications, the HTTP API and
// web UI, metrics and health endpoints.
package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/redact"
	"github.com/flyt-platform/flyt/report"
	flytsync "github.com/flyt-platform/flyt/sync"
	"github.com/flyt-platform/flyt/sync/source"
	"github.com/flyt-platform/flyt/webhook"
)

// Options configure a server. Only ConfigFile is required; the rest override platform.yaml.
type Options struct {
	// ConfigFile is the platform config.
	ConfigFile string
	// Listen overrides server.listen.
	Listen string
	// HistoryDSN overrides server.historyDSN.
	HistoryDSN string
	// Workers overrides server.workers.
	Workers int
	// TeamWorkers overrides server.teamWorkers: how many of the workers one team's deploys may
	// hold at once, so one team's slow Git server or huge repository cannot take them all.
	// Default max(1, workers/4).
	TeamWorkers int
	// Log receives JSON logs. Default: slog JSON on stderr.
	Log *slog.Logger
	// ShutdownTimeout bounds how long in-flight deploys may take to finish at shutdown
	// (SIGTERM, Ctrl-C): flyt then takes no new work, lets the deploys in flight go on for up
	// to this long, cuts off those still running and records them inactive ("flyt shut down
	// …"), and exits. The next start (or leader) deploys their keys again. Default 30s.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the address the server listens on once it serves.
	Ready func(addr string)
	// ConfigRepository, when set, reads the platform config from a Git repository and follows
	// it; ConfigFile is then ignored.
	ConfigRepository *ConfigRepository
	// LeaderElection, when set, lets several replicas share the platform: only the elected
	// leader reconciles, and Run returns ErrLeadershipLost if it loses the Lease. Nil runs a
	// single replica that always reconciles.
	LeaderElection *LeaderElection
	// Pprof serves Go's runtime profiles under /debug/pprof/ on the listener, for finding where
	// flyt spends its time (go tool pprof http://HOST/debug/pprof/profile). Off by default: the
	// profiles name flyt's internals and cost CPU while they run, so expose them only where the
	// listener is private.
	Pprof bool

	// metricsRegistered, set by tests, is told the registry flyt's own metrics are on.
	metricsRegistered func(*prometheus.Registry)
}

// Run runs flyt until ctx ends: it builds the parts (build), routes HTTP to them (routes),
// runs them (run) and, when ctx ends or a part fails, shuts them down in order (shutdown).
func Run(ctx context.Context, opts Options) error {
	s, err := build(ctx, opts)
	defer s.close()
	if err != nil {
		return err
	}
	return s.run(ctx)
}

// build opens the config, the history store, the listener and every part of the server, and
// returns the server, also on error, for close to release what was opened.
func build(ctx context.Context, opts Options) (*server, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	s := &server{opts: opts, log: log, clusters: map[string]*clusterEntry{}, followConfig: func(context.Context) {}}
	if err := s.openConfig(ctx); err != nil {
		return s, err
	}
	p := s.watcher.Current()
	if err := s.openHistory(ctx, p); err != nil {
		return s, err
	}

	// Metrics: flyt's own, on a registry of this run's (so that a process may run Run more
	// than once), served beside controller-runtime's global registry, which carries the Go
	// runtime, process, client-go request and leader-election metrics.
	s.registry = prometheus.NewRegistry()
	syncMetrics := flytsync.NewMetrics(s.registry)
	gitMetrics := source.NewMetrics(s.registry)
	hookMetrics, err := webhook.NewMetrics(s.registry)
	if err != nil {
		return s, fmt.Errorf("register webhook metrics: %w", err)
	}
	reportMetrics, err := report.NewMetrics(s.registry)
	if err != nil {
		return s, fmt.Errorf("register report metrics: %w", err)
	}
	if opts.metricsRegistered != nil {
		opts.metricsRegistered(s.registry)
	}

	if err := s.listen(p); err != nil {
		return s, err
	}
	if err := s.newReporter(p, reportMetrics); err != nil {
		return s, err
	}
	s.newSync(p, syncMetrics, gitMetrics)
	hookCfg, err := webhook.ConfigFromPlatform(p)
	if err != nil {
		return s, fmt.Errorf("webhook config: %w", err)
	}
	if s.receiver, err = webhook.NewReceiver(webhook.ReceiverOptions{Config: hookCfg, Enqueue: s.refresh, Log: log, Metrics: hookMetrics}); err != nil {
		return s, err
	}
	s.httpServer = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	return s, nil
}

// openConfig reads the platform config, from Git when a config repository is set, and
// watches it for changes.
func (s *server) openConfig(ctx context.Context) error {
	if s.opts.ConfigRepository != nil {
		file, follow, err := configFromGit(ctx, *s.opts.ConfigRepository, s.log)
		if err != nil {
			return err
		}
		s.opts.ConfigFile, s.followConfig = file, follow
	}
	watcher, err := environments.NewWatcher(s.opts.ConfigFile, s.configChanged, s.log)
	if err != nil {
		return err
	}
	s.watcher = watcher
	s.dataDir = cmp.Or(watcher.Current().Server.DataDir, "flyt-data")
	if err := os.MkdirAll(s.dataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return nil
}

// openHistory opens the history store and, with leader election, the elector.
func (s *server) openHistory(ctx context.Context, p *environments.Platform) error {
	s.dsn = firstNonEmpty(s.opts.HistoryDSN, p.Server.HistoryDSN, filepath.Join(s.dataDir, "history.db"))
	store, err := history.Open(ctx, s.dsn)
	if err != nil {
		field := "server.historyDSN"
		if s.opts.HistoryDSN != "" {
			field = "--history"
		}
		return fmt.Errorf("open history (%s): %w", field, err)
	}
	s.store = store
	if s.opts.LeaderElection != nil {
		if !history.IsPostgres(s.dsn) {
			s.log.Warn("leader election with a SQLite history store: each replica keeps a history of its own; run a single replica, or use PostgreSQL (--history postgres://…)")
		}
		if s.elector, err = newElector(*s.opts.LeaderElection, s.log); err != nil {
			return err
		}
	}
	return nil
}

// listen opens the listener and settles the external URL links and reports carry.
func (s *server) listen(p *environments.Platform) error {
	listen := firstNonEmpty(s.opts.Listen, p.Server.Listen, ":8080")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	s.ln = ln
	// The config's external URL defaults to one built from server.listen; when --listen moved
	// the server, follow it.
	s.externalURL = p.Server.ExternalURL
	if s.externalURL == "" || (s.opts.Listen != "" && s.externalURL == "http://"+hostPortString(p.Server.Listen)) {
		s.externalURL = "http://" + hostPort(ln.Addr())
	}
	return nil
}

// newReporter builds the outbound reporting: GitHub deployments and statuses when the platform
// has GitHub credentials, and notification webhooks.
func (s *server) newReporter(p *environments.Platform, metrics *report.Metrics) error {
	s.notifier = report.NewNotifier(report.NotifierOptions{Targets: report.NotifyTargets(p), ExternalURL: s.externalURL, Metrics: metrics})
	var gh *report.GitHub
	if tokens, err := report.TokenSourceFromPlatform(p.Server.GitHub, report.AppTokenOptions{}); err == nil {
		gh, err = report.NewGitHub(report.GitHubOptions{APIURL: p.Server.GitHub.APIURL, Token: tokens, ExternalURL: s.externalURL,
			CommitStatuses: p.Server.GitHub.CommitStatuses, Metrics: metrics})
		if err != nil {
			return fmt.Errorf("github reporting: %w", err)
		}
	} else if !errors.Is(err, report.ErrNoGitHubAuth) {
		return fmt.Errorf("github auth: %w", err)
	}
	log := s.log
	s.reporter = report.NewReporter(report.ReporterOptions{GitHub: gh, Notifier: s.notifier, Log: log, Metrics: metrics,
		OnGiveUp: func(ev report.DeployEvent, err error) {
			log.Warn("gave up reporting a deploy", "deploy", ev.DeployID, "app", ev.App, "team", ev.Team, "environment", ev.Environment, "state", ev.State, "error", err)
		}})
	return nil
}

// newSync builds the Git cache, the sync controller and the poller that feeds it.
func (s *server) newSync(p *environments.Platform, syncMetrics *flytsync.Metrics, gitMetrics *source.Metrics) {
	s.cache = source.NewCache(filepath.Join(s.dataDir, "git"), source.Options{Metrics: gitMetrics})
	s.ctrl = flytsync.NewController(flytsync.Options{
		Platform:    s.watcher.Current,
		Store:       s.store,
		Cache:       s.cache,
		Cluster:     s.cluster,
		TeamCluster: s.teamCluster,
		Workers:     cmp.Or(s.opts.Workers, p.Server.Workers),
		TeamWorkers: cmp.Or(s.opts.TeamWorkers, p.Server.TeamWorkers),
		Metrics:     syncMetrics,
		Log:         logr.FromSlogHandler(s.log.Handler()),
		OnDeploy:    func(d history.Deploy) { s.reporter.Report(deployEvent(d, s.watcher.Current())) },
	})
	log := s.log
	s.poller = source.NewPoller(s.cache, s.repositories, source.PollerOptions{Interval: p.Server.PollInterval.Duration, Metrics: gitMetrics, Team: s.teamOf},
		s.ctrl.RepositoryChanged,
		func(repo environments.Repository, err error) {
			log.Warn("repository sync failed", "repository", redact.URL(repo.URL), "error", err)
		})
}

// routes is the server's HTTP surface: webhooks, metrics, health, the leader's refresh
// endpoint, the API and UI (forwarded to the leader where they must be), and pprof when asked.
func (s *server) routes() http.Handler {
	apiServer := api.NewServer(api.Options{Store: s.store, Operator: operator{s.ctrl}, Platform: s.watcher.Current, Log: s.log, ExternalURL: s.externalURL})
	mux := http.NewServeMux()
	mux.Handle("/webhook/", s.receiver)
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{ctrlmetrics.Registry, s.registry}, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("POST "+refreshPath, s.serveRefresh)
	mux.Handle("/", s.leaderOnly(apiServer.Handler()))
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// close releases what build opened, once everything has stopped.
func (s *server) close() {
	if s.ln != nil {
		_ = s.ln.Close() // already closed when the HTTP server ran
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	s.closeClusters()
}

// server holds the running parts.
type server struct {
	opts         Options
	log          *slog.Logger
	followConfig func(context.Context) // follows a config repository; a no-op without one
	watcher      *environments.Watcher
	dataDir      string
	dsn          string
	store        history.Store
	registry     *prometheus.Registry // flyt's own metrics
	ln           net.Listener
	externalURL  string
	httpServer   *http.Server
	cache        *source.Cache
	ctrl         *flytsync.Controller
	poller       *source.Poller
	receiver     *webhook.Receiver
	notifier     *report.Notifier
	reporter     *report.Reporter
	// elector is nil without leader election.
	elector *elector

	// Guards the fields below.
	mu       gosync.Mutex
	clusters map[string]*clusterEntry
	ready    bool
}

type clusterEntry struct {
	key     string // what the connection was built from; a change rebuilds it
	cluster *flytsync.Cluster
}

// cluster returns the connection of an environment, built on first use and rebuilt when the
// environment's cluster settings change.
func (s *server) cluster(env string) (*flytsync.Cluster, error) {
	e := s.watcher.Current().Environment(env)
	if e == nil {
		return nil, fmt.Errorf("%w: %q", flytsync.ErrUnknownEnvironment, env)
	}
	return s.connect(env, e, "", nil)
}

// connect returns the connection cached as id, built for environment e (its config passed
// through wrap, when set) on first use and rebuilt, closing the old one's watches, when e's
// cluster settings or extra change.
func (s *server) connect(id string, e *environments.Environment, extra string, wrap func(*rest.Config) *rest.Config) (*flytsync.Cluster, error) {
	key := fmt.Sprintf("%s|%s|%v|%s|%s", e.Cluster.Kubeconfig, e.Cluster.Context, e.Cluster.InCluster, e.Cluster.Name, extra)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clusters[id]; ok && c.key == key {
		return c.cluster, nil
	}
	cfg, err := e.RESTConfig()
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		cfg = wrap(cfg)
	}
	name := e.Cluster.Name
	if name == "" {
		name = e.Name
	}
	c, err := flytsync.NewCluster(e.Name, name, cfg)
	if err != nil {
		return nil, err
	}
	if old, ok := s.clusters[id]; ok {
		old.cluster.Close() // its watches; deploys holding it finish with its client
	}
	s.clusters[id] = &clusterEntry{key: key, cluster: c}
	return c, nil
}

// closeClusters stops the clusters' watches when flyt stops: an API server shutting down waits
// for its open watches.
func (s *server) closeClusters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clusters {
		c.cluster.Close()
	}
}

// teamCluster returns the connection a team's deploys use: the environment's, or, when the team
// names a service account, one that impersonates it in the team's namespace, so the cluster's
// RBAC confines the team's writes too.
func (s *server) teamCluster(env string, team *environments.Team) (*flytsync.Cluster, error) {
	if team.ServiceAccount == "" {
		return s.cluster(env)
	}
	e := s.watcher.Current().Environment(env)
	if e == nil {
		return nil, fmt.Errorf("%w: %q", flytsync.ErrUnknownEnvironment, env)
	}
	ns := e.TeamNamespace(team)
	return s.connect(env+"/"+team.Name, e, ns+"|"+team.ServiceAccount, func(cfg *rest.Config) *rest.Config {
		return environments.ImpersonateTeam(cfg, ns, team.ServiceAccount)
	})
}

// repositories lists every team repository of the current config, for the poller.
func (s *server) repositories() []environments.Repository {
	var out []environments.Repository
	for _, t := range s.watcher.Current().Teams {
		out = append(out, t.Repositories...)
	}
	return out
}

// teamOf names the team that owns repo, for the poller's share of sync slots per team.
func (s *server) teamOf(repo environments.Repository) string {
	if t, _ := s.watcher.Current().TeamForRepository(repo.URL); t != nil {
		return t.Name
	}
	return ""
}

// refresh is the webhook receiver's enqueue. On the leader (or a single replica) it never
// blocks; a follower forwards the refresh to the leader within a few seconds, or fails so
// that the receiver answers 503.
func (s *server) refresh(ctx context.Context, r webhook.Refresh) error {
	if s.elector != nil && !s.elector.leading() {
		return s.forwardRefresh(ctx, r)
	}
	s.enqueueLocal(r)
	return nil
}

// enqueueLocal hands a refresh to this replica's poller and controller.
func (s *server) enqueueLocal(r webhook.Refresh) {
	s.ctrl.Pushed(r.Repository, r.Commit, r.Pusher)
	s.poller.Refresh(r.Repository)
}

// configChanged applies a reloaded platform config to the parts that keep a copy of it.
func (s *server) configChanged(p *environments.Platform) {
	cfg, err := webhook.ConfigFromPlatform(p)
	if err != nil {
		s.log.Error("reloaded platform config has unusable webhook secrets; keeping the old ones", "error", err)
	} else if err := s.receiver.SetConfig(cfg); err != nil {
		s.log.Error("apply reloaded webhook config", "error", err)
	}
	s.notifier.SetTargets(report.NotifyTargets(p))
	s.log.Info("platform config reloaded", "environments", len(p.Environments), "teams", len(p.Teams))
	s.poller.Refresh("") // pick up new repositories at once
}

func (s *server) setReady(v bool) {
	s.mu.Lock()
	s.ready = v
	s.mu.Unlock()
}

// readyz answers 200 once the server takes work, with the config error if the last reload
// failed (the old config still runs, so it stays ready).
func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	msg := "ok\n"
	if err := s.watcher.LastError(); err != nil {
		msg = "ok (last platform config reload failed, old config in force: " + err.Error() + ")\n"
	}
	_, _ = w.Write([]byte(msg))
}

// deployEvent turns a deploy state change into what the outbound reporter sends.
func deployEvent(d history.Deploy, p *environments.Platform) report.DeployEvent {
	production := len(p.Environments) > 0 && p.Environments[len(p.Environments)-1].Name == d.Environment
	t := d.FinishedAt
	if t.IsZero() {
		t = time.Now()
	}
	return report.DeployEvent{DeployID: d.ID, App: d.App, Team: d.Team, Environment: d.Environment, Repository: redact.URL(d.Repository),
		Commit: d.Commit, State: d.State, Message: d.Message, Production: production, Time: t}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// hostPort makes a listen address usable in a URL: an unspecified host becomes localhost.
func hostPort(a net.Addr) string { return hostPortString(a.String()) }

func hostPortString(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}
