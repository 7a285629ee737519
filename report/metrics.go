package report

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Result is how one outbound call (GitHub API or notification webhook) ended, after retries.
// It is the "result" label of flyt_github_requests_total and flyt_notifications_total.
type Result string

// The results of an outbound call.
const (
	// ResultSuccess: the server accepted the call (2xx).
	ResultSuccess Result = "success"
	// ResultRejected: the server refused the call with a status that retrying cannot fix
	// (4xx other than rate limits); flyt gives up at once.
	ResultRejected Result = "rejected"
	// ResultGaveUp: retries or the time bound ran out on 5xx, rate limits or connection errors.
	ResultGaveUp Result = "gave_up"
)

// GitHub operations, the "operation" label of flyt_github_requests_total.
const (
	opCreateDeployment  = "create_deployment"
	opDeploymentStatus  = "create_deployment_status"
	opCommitStatus      = "create_commit_status"
	opInstallationToken = "create_installation_token"
)

// Metrics are the Prometheus collectors of outbound reporting. One Metrics is shared by the
// GitHub client, the App token source, the notifier and the reporter of one flyt process.
type Metrics struct {
	// GitHubRequests is flyt_github_requests_total: calls to the GitHub API, counted once per
	// call after retries. Labels: "operation" is create_deployment, create_deployment_status,
	// create_commit_status or create_installation_token; "result" is a Result.
	GitHubRequests *prometheus.CounterVec
	// Notifications is flyt_notifications_total: notification webhooks sent per URL when a
	// deploy finishes, after retries. Label: "result" is a Result.
	Notifications *prometheus.CounterVec
	// ReportsDropped is flyt_reports_dropped_total: deploy events dropped because the
	// reporter's queue was full (GitHub or a notification target too slow for too long).
	ReportsDropped prometheus.Counter
}

// NewMetrics makes the collectors and registers them on reg (the controller-runtime registry
// in flyt serve, a fresh registry in tests). A nil reg leaves them unregistered, for callers
// that do not export metrics. Known series are created at zero so that dashboards and alerts
// see them before the first event.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.GitHubRequests, m.Notifications, m.ReportsDropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register report metrics: %w", err)
		}
	}
	return m, nil
}

// newMetrics makes the collectors with their known series at zero, unregistered: components
// constructed without Metrics count in their own, so that counting never needs a nil check.
func newMetrics() *Metrics {
	m := &Metrics{
		GitHubRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_github_requests_total",
			Help: "GitHub API calls by operation and result (success, rejected, gave_up), after retries.",
		}, []string{"operation", "result"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_notifications_total",
			Help: "Deploy notification webhooks sent, by result (success, rejected, gave_up), after retries.",
		}, []string{"result"}),
		ReportsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flyt_reports_dropped_total",
			Help: "Deploy events dropped from the outbound report queue because it was full.",
		}),
	}
	for _, op := range []string{opCreateDeployment, opDeploymentStatus, opCommitStatus, opInstallationToken} {
		for _, r := range []Result{ResultSuccess, ResultRejected, ResultGaveUp} {
			m.GitHubRequests.WithLabelValues(op, string(r)).Add(0)
		}
	}
	for _, r := range []Result{ResultSuccess, ResultRejected, ResultGaveUp} {
		m.Notifications.WithLabelValues(string(r)).Add(0)
	}
	return m
}
