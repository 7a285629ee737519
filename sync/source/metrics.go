package source

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the repository watcher's Prometheus metrics. One Metrics is shared by a Cache
// and its Poller; create it once per registry with NewMetrics. A nil *Metrics records
// nothing, so tests and tools that do not care need not make one.
type Metrics struct {
	syncDuration *prometheus.HistogramVec
	fetchErrors  *prometheus.CounterVec
	polls        *prometheus.CounterVec
	fetchBytes   prometheus.Counter
	failing      prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered, e.g. in
// tests that read them directly).
//
//   - flyt_git_fetch_duration_seconds{result}: time of one sync of a repository, ls-remote
//     included. result is "unchanged" (ls-remote only), "changed" (a fetch ran) or "error".
//   - flyt_git_fetch_errors_total{reason}: failed syncs, by Reason (branch_not_found,
//     repository_not_found, auth, network, config, canceled, other …).
//   - flyt_git_polls_total{result}: syncs by result; unchanged / total is the share of polls
//     that ls-remote saved from fetching.
//   - flyt_git_fetch_bytes_total: bytes of packfiles received by fetches.
//   - flyt_git_repositories_failing: repositories the poller is backing off from.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flyt_git_fetch_duration_seconds",
			Help:    "Time of one repository sync (ls-remote, plus a fetch when the branch moved), by result: unchanged, changed or error.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"result"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_git_fetch_errors_total",
			Help: "Failed repository syncs, by reason: branch_not_found, repository_not_found, auth, network, commit_not_found, config, canceled or other.",
		}, []string{"reason"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_git_polls_total",
			Help: "Repository syncs by result: unchanged (ls-remote only, no fetch), changed (fetched) or error.",
		}, []string{"result"}),
		fetchBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flyt_git_fetch_bytes_total",
			Help: "Bytes of packfiles received from Git servers.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flyt_git_repositories_failing",
			Help: "Repositories whose last sync failed and that the poller is backing off from.",
		}),
	}
	for _, r := range []string{resultUnchanged, resultChanged, resultError} {
		m.syncDuration.WithLabelValues(r)
		m.polls.WithLabelValues(r).Add(0)
	}
	for _, r := range []Reason{ReasonBranchNotFound, ReasonRepositoryNotFound, ReasonAuth, ReasonNetwork, ReasonConfig, ReasonOther} {
		m.fetchErrors.WithLabelValues(string(r)).Add(0)
	}
	if reg != nil {
		reg.MustRegister(m.syncDuration, m.fetchErrors, m.polls, m.fetchBytes, m.failing)
	}
	return m
}

const (
	resultUnchanged = "unchanged"
	resultChanged   = "changed"
	resultError     = "error"
)

func (m *Metrics) observeSync(result string, seconds float64, reason Reason) {
	if m == nil {
		return
	}
	m.syncDuration.WithLabelValues(result).Observe(seconds)
	m.polls.WithLabelValues(result).Inc()
	if result == resultError {
		m.fetchErrors.WithLabelValues(string(reason)).Inc()
	}
}

func (m *Metrics) addBytes(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.fetchBytes.Add(float64(n))
}

func (m *Metrics) setFailing(n int) {
	if m == nil {
		return
	}
	m.failing.Set(float64(n))
}
