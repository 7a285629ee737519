package sync

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus metrics. A nil *Metrics records nothing, so tests and
// tools can run a Deployer without a registry.
type Metrics struct {
	// deploys counts finished deploys. Labels: environment; state (success, failure, error,
	// inactive); trigger (push, poll, promotion, auto-promotion, rollback, manual, drift).
	deploys *prometheus.CounterVec
	// duration observes whole deploys, from record to final state. Label: environment.
	duration *prometheus.HistogramVec
	// steps observes the images, apply, prune and wait steps. Label: step.
	steps *prometheus.HistogramVec
	// queueDepth is the number of (app, environment) keys waiting for a worker.
	queueDepth prometheus.Gauge
	// queueWait observes how long a key waited in the queue before a worker took it.
	queueWait prometheus.Histogram
	// drift counts drift corrections. Label: environment.
	drift *prometheus.CounterVec
	// current is 1, labelled with the state of the newest deploy, for each app and environment. Labels: app,
	// team, environment, state.
	current *prometheus.GaugeVec
}

// NewMetrics creates the controller's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	m := &Metrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_deploys_total", Help: "Finished deploys by environment, final state and trigger.",
		}, []string{"environment", "state", "trigger"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flyt_deploy_duration_seconds", Help: "Duration of whole deploys, from record to final state.", Buckets: buckets,
		}, []string{"environment"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flyt_deploy_step_duration_seconds", Help: "Duration of the apply, prune and wait steps of deploys.", Buckets: buckets,
		}, []string{"step"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flyt_queue_depth", Help: "Number of (app, environment) keys waiting for a worker.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flyt_queue_wait_seconds", Help: "Time a key waited in the queue before a worker took it.", Buckets: buckets,
		}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flyt_drift_corrections_total", Help: "Deploys that corrected drift of live objects, by environment.",
		}, []string{"environment"}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flyt_app_state", Help: "1, labelled with the state of the newest deploy of each app and environment; one series per app and environment.",
		}, []string{"app", "team", "environment", "state"}),
	}
	reg.MustRegister(m.deploys, m.duration, m.steps, m.queueDepth, m.queueWait, m.drift, m.current)
	for _, s := range []string{"images", "apply", "prune", "wait"} {
		m.steps.WithLabelValues(s)
	}
	return m
}

func (m *Metrics) observeDeploy(env, state, trigger string, d time.Duration) {
	if m == nil {
		return
	}
	m.deploys.WithLabelValues(env, state, trigger).Inc()
	m.duration.WithLabelValues(env).Observe(d.Seconds())
	if trigger == "drift" && state == "success" {
		m.drift.WithLabelValues(env).Inc()
	}
}

func (m *Metrics) observeStep(step string, d time.Duration) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(step).Observe(d.Seconds())
}

func (m *Metrics) setCurrent(app, team, env, state string) {
	if m == nil {
		return
	}
	// One series per app and environment, labelled with its state: six per pair (1 for the
	// state, 0 for the others) made 12,000 series at 1,000 apps in two environments, most of
	// a scrape's cost. sum by (state) (flyt_app_state) counts the pairs in each state.
	for _, s := range []string{"queued", "in_progress", "success", "failure", "error", "inactive"} {
		if s != state {
			m.current.DeleteLabelValues(app, team, env, s)
		}
	}
	m.current.WithLabelValues(app, team, env, state).Set(1)
}

func (m *Metrics) queue(depth int, waited time.Duration) {
	if m == nil {
		return
	}
	m.queueDepth.Set(float64(depth))
	if waited > 0 {
		m.queueWait.Observe(waited.Seconds())
	}
}
