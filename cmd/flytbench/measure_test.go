package main

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestParseMetricsReadsWhatClientGolangServes scrapes a real registry over HTTP, as the harness
// scrapes flyt, and reads back counters by label and a histogram's count and sum.
func TestParseMetricsReadsWhatClientGolangServes(t *testing.T) {
	reg := prometheus.NewRegistry()
	deploys := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flyt_deploys_total"}, []string{"state"})
	steps := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flyt_deploy_step_duration_seconds"}, []string{"step"})
	reg.MustRegister(deploys, steps)
	deploys.WithLabelValues("success").Add(3)
	deploys.WithLabelValues(`fail,"ure"`).Add(2) // a comma and quotes inside a label value
	steps.WithLabelValues("apply").Observe(0.25)
	steps.WithLabelValues("apply").Observe(0.5)
	steps.WithLabelValues("wait").Observe(4)

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	m, err := scrape(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"flyt_deploys_total", nil, 5},
		{"flyt_deploys_total", []string{"state", "success"}, 3},
		{"flyt_deploys_total", []string{"state", "!success"}, 2},
		{"flyt_deploys_total", []string{"state", `fail,"ure"`}, 2},
		{"flyt_deploy_step_duration_seconds_count", []string{"step", "apply"}, 2},
		{"flyt_deploy_step_duration_seconds_sum", []string{"step", "apply"}, 0.75},
		{"flyt_deploy_step_duration_seconds_count", []string{"step", "apply|wait"}, 3},
	} {
		if got := m.sum(c.name, c.match...); got != c.want {
			t.Errorf("sum(%s, %q) = %v, want %v", c.name, c.match, got, c.want)
		}
	}
}
