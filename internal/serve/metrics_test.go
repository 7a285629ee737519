package serve

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// documentedMetric is one row of the README's metrics table.
type documentedMetric struct {
	typ    string
	labels []string
}

// readmeMetrics parses the table of the README's "## Metrics" section.
func readmeMetrics(t *testing.T) map[string]documentedMetric {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		t.Fatal(`README.md has no "## Metrics" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]documentedMetric{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`flyt_") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var labels []string
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "—" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		if _, dup := out[name]; dup {
			t.Errorf("README.md lists %s twice", name)
		}
		out[name] = documentedMetric{typ: strings.TrimSpace(cells[2]), labels: labels}
	}
	if len(out) == 0 {
		t.Fatal("README.md's metrics section has no table rows of flyt_ metrics")
	}
	return out
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]*)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// registeredFlytMetrics describes every collector on the registries and returns the flyt_
// metrics with their variable labels, sorted.
func registeredFlytMetrics(t *testing.T, regs ...prometheus.Collector) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, reg := range regs {
		ch := make(chan *prometheus.Desc)
		go func() { reg.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			m := descName.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("cannot read the name of %s", s)
			}
			if !strings.HasPrefix(m[1], "flyt_") {
				continue
			}
			var labels []string
			if l := descLabels.FindStringSubmatch(s); l != nil && l[1] != "" {
				labels = strings.Split(l[1], ",")
			}
			slices.Sort(labels)
			out[m[1]] = labels
		}
	}
	return out
}

// TestMetricsDocumented runs flyt serve in-process and checks that the README's metrics table
// and the flyt_ metrics serve registers match both ways, with the same labels, and that every
// flyt_ family /metrics serves is documented with its type.
func TestMetricsDocumented(t *testing.T) {
	documented := readmeMetrics(t)

	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-m/apps")
	repo.Commit(t, map[string]string{".nais/app.yaml": "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: metrics-app\nspec:\n  image: registry.example/metrics-app:1\n  replicas: {min: 1, max: 1}\n"}, "app")
	regs := make(chan *prometheus.Registry, 1)
	base := runInProcess(t, Options{
		ConfigFile:        teamPlatform(t, "team-m", repo.URL()),
		metricsRegistered: func(r *prometheus.Registry) { regs <- r },
	})
	reg := <-regs

	// Both registries /metrics serves: flyt's own and controller-runtime's.
	ctrlReg, ok := ctrlmetrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's registry is a %T, which cannot describe its metrics", ctrlmetrics.Registry)
	}
	registered := registeredFlytMetrics(t, reg, ctrlReg)
	for name, labels := range registered {
		d, ok := documented[name]
		if !ok {
			t.Errorf("%s (labels %v) is registered but not in README.md's metrics table", name, labels)
			continue
		}
		if !slices.Equal(d.labels, labels) {
			t.Errorf("%s: README.md says labels %v, registered with %v", name, d.labels, labels)
		}
	}
	for name := range documented {
		if _, ok := registered[name]; !ok {
			t.Errorf("README.md documents %s, which flyt serve does not register", name)
		}
	}

	// Every flyt_ family /metrics serves is documented, with its type. (Families without a
	// series yet are not served; the registry check above covers them.)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	served := 0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" || !strings.HasPrefix(f[2], "flyt_") {
			continue
		}
		served++
		if d, ok := documented[f[2]]; !ok {
			t.Errorf("/metrics serves %s, which README.md does not document", f[2])
		} else if d.typ != f[3] {
			t.Errorf("%s: README.md says %s, /metrics says %s", f[2], d.typ, f[3])
		}
	}
	if served == 0 {
		t.Errorf("/metrics serves no flyt_ metrics:\n%s", body)
	}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", "rest_client_requests_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s, which README.md says it exports", want)
		}
	}
}

// teamPlatform writes a platform config with one environment, dev on the test cluster, and
// one team with one repository, and returns its path.
func teamPlatform(t *testing.T, team, repoURL string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
teams:
- name: %s
  repositories:
  - url: %s
`, filepath.Join(dir, "data"), dev.Kubeconfig(), team, repoURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// TestPprofIsOptIn checks that Go's profiles are served under /debug/pprof/ only with
// Options.Pprof (flyt serve --pprof).
func TestPprofIsOptIn(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-p/apps")
	repo.Commit(t, map[string]string{"README.md": "no apps yet\n"}, "empty")
	for _, on := range []bool{false, true} {
		base := runInProcess(t, Options{ConfigFile: teamPlatform(t, "team-p", repo.URL()), Pprof: on})
		resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile")
		if served != on {
			t.Errorf("Pprof %v: GET /debug/pprof/goroutine = %s, profile served %v", on, resp.Status, served)
		}
	}
}
