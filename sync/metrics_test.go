package sync

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// flyt_app_state keeps one series per app and environment, labelled with the newest deploy's
// state: a state change replaces the series, it does not add one.
func TestAppStateIsOneSeriesPerAppAndEnvironment(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.setCurrent("web", "team-a", "dev", "in_progress")
	m.setCurrent("web", "team-a", "dev", "success")
	m.setCurrent("web", "team-a", "prod", "failure")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "flyt_app_state" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got = append(got, l["environment"]+"="+l["state"])
			if v := s.GetGauge().GetValue(); v != 1 {
				t.Errorf("%v = %v, want 1", l, v)
			}
		}
	}
	slices.Sort(got)
	if want := []string{"dev=success", "prod=failure"}; !slices.Equal(got, want) {
		t.Errorf("flyt_app_state series = %v, want %v", got, want)
	}
}
