package webhook

import (
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

// Event labels, the "event" label of flyt_webhook_requests_total.
const (
	eventLabelPush       = "push"
	eventLabelPing       = "ping"
	eventLabelGeneric    = "generic"
	eventLabelOther      = "other"
	eventLabelUnverified = "unverified"
)

// Metrics are the Prometheus collectors of the webhook receiver. (Outbound reporting counts in
// package report's Metrics.)
type Metrics struct {
	// Requests is flyt_webhook_requests_total: inbound webhook requests.
	// Labels: "event" is push, ping, generic (the /webhook/generic receiver), other (any other
	// GitHub event type; the header is not used as a label value, to bound cardinality) or
	// unverified (rejected before the event could be trusted: too large, bad signature);
	// "outcome" is an Outcome.
	Requests *prometheus.CounterVec
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
	if err := reg.Register(m.Requests); err != nil {
		return nil, fmt.Errorf("register webhook metrics: %w", err)
	}
	return m, nil
}

// newMetrics makes the collectors with their known series at zero, unregistered: components
// constructed without Metrics count in their own, so that counting never needs a nil check.
func newMetrics() *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_webhook_requests_total",
			Help: "Inbound webhook requests by event (push, ping, generic, other, unverified) and outcome.",
		}, []string{"event", "outcome"}),
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
	return m
}
