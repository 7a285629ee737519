package webhook

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is what the receiver did with one inbound webhook request. It is the "outcome"
// label of flyt_webhook_requests_total and the "outcome" field of the response body.
type Outcome string

// The outcomes of an inbound webhook request.
const (
	// OutcomeEnqueued: at least one watched repository was enqueued for a refresh (202).
	OutcomeEnqueued Outcome = "enqueued"
	// OutcomeIgnored: a valid, signed request about nothing flyt deploys: another branch, a
	// tag, a deletion, an unwatched repository or an event type flyt does not handle (202).
	OutcomeIgnored Outcome = "ignored"
	// OutcomeDuplicate: a redelivery of a delivery ID already handled (200).
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeUnauthorized: a missing or wrong signature, or a team secret used for another
	// team's repository (401).
	OutcomeUnauthorized Outcome = "unauthorized"
	// OutcomeTooLarge: the body exceeded the limit (413).
	OutcomeTooLarge Outcome = "too_large"
	// OutcomeBadRequest: a signed body that does not parse, or an unsupported content type
	// (400/415).
	OutcomeBadRequest Outcome = "bad_request"
	// OutcomePing: GitHub's ping on creating a hook (200).
	OutcomePing Outcome = "ping"
	// OutcomeUnavailable: the refresh could not be enqueued (flyt shutting down, queue
	// refused); the delivery is not remembered, so a redelivery is handled again (503).
	OutcomeUnavailable Outcome = "unavailable"
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
	opCreateDeployment   = "create_deployment"
	opDeploymentStatus   = "create_deployment_status"
	opCommitStatus       = "create_commit_status"
	opInstallationToken  = "create_installation_token"
	eventLabelPush       = "push"
	eventLabelPing       = "ping"
	eventLabelGeneric    = "generic"
	eventLabelOther      = "other"
	eventLabelUnverified = "unverified"
)

// Metrics are the Prometheus collectors of the webhook package. One Metrics is shared by the
// receiver, the GitHub client, the notifier and the reporter of one flyt process.
type Metrics struct {
	// Requests is flyt_webhook_requests_total: inbound webhook requests.
	// Labels: "event" is push, ping, generic (the /webhook/generic receiver), other (any other
	// GitHub event type; the header is not used as a label value, to bound cardinality) or
	// unverified (rejected before the event could be trusted: too large, bad signature);
	// "outcome" is an Outcome.
	Requests *prometheus.CounterVec
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
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_webhook_requests_total",
			Help: "Inbound webhook requests by event (push, ping, generic, other, unverified) and outcome.",
		}, []string{"event", "outcome"}),
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
	for _, o := range []Outcome{OutcomeEnqueued, OutcomeIgnored, OutcomeDuplicate, OutcomeBadRequest, OutcomeUnavailable} {
		m.Requests.WithLabelValues(eventLabelPush, string(o)).Add(0)
		m.Requests.WithLabelValues(eventLabelGeneric, string(o)).Add(0)
	}
	m.Requests.WithLabelValues(eventLabelPing, string(OutcomePing)).Add(0)
	m.Requests.WithLabelValues(eventLabelOther, string(OutcomeIgnored)).Add(0)
	m.Requests.WithLabelValues(eventLabelUnverified, string(OutcomeUnauthorized)).Add(0)
	m.Requests.WithLabelValues(eventLabelUnverified, string(OutcomeTooLarge)).Add(0)
	m.Requests.WithLabelValues(eventLabelPush, string(OutcomeUnauthorized)).Add(0)
	m.Requests.WithLabelValues(eventLabelGeneric, string(OutcomeUnauthorized)).Add(0)
	for _, op := range []string{opCreateDeployment, opDeploymentStatus, opCommitStatus, opInstallationToken} {
		for _, r := range []Result{ResultSuccess, ResultRejected, ResultGaveUp} {
			m.GitHubRequests.WithLabelValues(op, string(r)).Add(0)
		}
	}
	for _, r := range []Result{ResultSuccess, ResultRejected, ResultGaveUp} {
		m.Notifications.WithLabelValues(string(r)).Add(0)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.Requests, m.GitHubRequests, m.Notifications, m.ReportsDropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return m, nil
}

// mustUnregisteredMetrics gives components constructed without Metrics their own, so that
// counting never needs a nil check.
func mustUnregisteredMetrics() *Metrics {
	m, err := NewMetrics(nil)
	if err != nil {
		panic(errors.New("webhook: unregistered metrics cannot fail")) // unreachable: no registry
	}
	return m
}
