package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
)

// sample is one series of a Prometheus exposition; a histogram or summary gives two, its
// name_count and name_sum, which is what the harness reads of them.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples are a parsed exposition.
type samples []sample

// parseMetrics reads the Prometheus text format with Prometheus's own parser.
func parseMetrics(r io.Reader) (samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	var out samples
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			add := func(name string, v float64) {
				out = append(out, sample{name: name, labels: labels, value: v})
			}
			switch {
			case m.Counter != nil:
				add(name, m.GetCounter().GetValue())
			case m.Gauge != nil:
				add(name, m.GetGauge().GetValue())
			case m.Untyped != nil:
				add(name, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
				add(name+"_sum", m.GetHistogram().GetSampleSum())
			case m.Summary != nil:
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
				add(name+"_sum", m.GetSummary().GetSampleSum())
			}
		}
	}
	return out, nil
}

// sum adds the samples named name whose labels include every pair of match ("!v" excludes v).
func (ss samples) sum(name string, match ...string) float64 {
	var t float64
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			want, have := match[i+1], s.labels[match[i]]
			if strings.HasPrefix(want, "!") {
				if slices.Contains(strings.Split(want[1:], "|"), have) {
					continue next
				}
			} else if !slices.Contains(strings.Split(want, "|"), have) {
				continue next
			}
		}
		t += s.value
	}
	return t
}

func scrape(ctx context.Context, url string) (samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// apiserverCounts is what the API server says it answered: every client, the control plane's
// own controllers included.
type apiserverCounts struct {
	Total  float64 `json:"total"`
	Writes float64 `json:"writes"` // POST, PUT, PATCH, APPLY, DELETE, not dry-run, not status
	DryRun float64 `json:"dryRun"`
}

func apiserverMetrics(ctx context.Context, cfg *rest.Config) (samples, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape kube-apiserver metrics: %w", err)
	}
	return parseMetrics(strings.NewReader(string(raw)))
}

// apiserverDelta counts the requests between two scrapes, for the kinds flyt applies (plus
// discovery and pods, which flyt reads while waiting).
func apiserverDelta(before, after samples) apiserverCounts {
	const n = "apiserver_request_total"
	res := "serviceaccounts|services|deployments|horizontalpodautoscalers|poddisruptionbudgets|ingresses|networkpolicies|pods|replicasets|"
	c := func(ss samples, m ...string) float64 { return ss.sum(n, append([]string{"resource", res}, m...)...) }
	return apiserverCounts{
		Total:  c(after) - c(before),
		Writes: c(after, "verb", "POST|PUT|PATCH|APPLY|DELETE", "dry_run", "", "subresource", "", "resource", "!pods|replicasets") - c(before, "verb", "POST|PUT|PATCH|APPLY|DELETE", "dry_run", "", "subresource", "", "resource", "!pods|replicasets"),
		DryRun: c(after, "dry_run", "All") - c(before, "dry_run", "All"),
	}
}

// procStats reads a process's peak RSS (VmHWM) in MiB and its CPU seconds (user + system).
func procStats(pid int) (peakMiB, cpuSeconds float64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			peakMiB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command (which may hold spaces) start at state: utime is field 14.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return peakMiB, (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// selfCPU is this process's CPU seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// requestCounter counts the requests a client sends, by verb, with dry runs apart.
type requestCounter struct {
	total, gets, lists, writes, dryRuns, other atomic.Int64
}

func (rc *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			rc.total.Add(1)
			switch {
			case req.URL.Query().Get("dryRun") != "":
				rc.dryRuns.Add(1)
			case req.Method == http.MethodGet && strings.Contains(req.URL.RawQuery, "watch"):
				rc.other.Add(1)
			case req.Method == http.MethodGet && isList(req.URL.Path):
				rc.lists.Add(1)
			case req.Method == http.MethodGet:
				rc.gets.Add(1)
			default:
				rc.writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

// isList tells a collection path (…/namespaces/ns/pods, /api/v1/nodes) from one object.
func isList(path string) bool {
	p := strings.Split(strings.Trim(path, "/"), "/")
	if len(p) > 0 && (p[0] == "api" || p[0] == "apis") {
		switch {
		case p[0] == "api" && len(p) >= 3:
			p = p[2:]
		case p[0] == "apis" && len(p) >= 4:
			p = p[3:]
		default:
			return true // discovery
		}
	}
	if len(p) >= 2 && p[0] == "namespaces" {
		p = p[2:]
	}
	return len(p) <= 1
}

type requestCounts struct {
	Total   int64 `json:"total"`
	Gets    int64 `json:"gets"`
	Lists   int64 `json:"lists"`
	Writes  int64 `json:"writes"`
	DryRuns int64 `json:"dryRuns"`
}

func (rc *requestCounter) snapshot() requestCounts {
	return requestCounts{Total: rc.total.Load(), Gets: rc.gets.Load(), Lists: rc.lists.Load(), Writes: rc.writes.Load(), DryRuns: rc.dryRuns.Load()}
}

func (a requestCounts) minus(b requestCounts) requestCounts {
	return requestCounts{a.Total - b.Total, a.Gets - b.Gets, a.Lists - b.Lists, a.Writes - b.Writes, a.DryRuns - b.DryRuns}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// machine describes where the figures were measured.
type machine struct {
	Time              string  `json:"time"`
	Host              string  `json:"host"`
	NProc             int     `json:"nproc"`
	CPUModel          string  `json:"cpuModel"`
	MemTotalMiB       float64 `json:"memTotalMiB"`
	GoVersion         string  `json:"goVersion"`
	LoadAvgStart      string  `json:"loadAvgStart"`
	LoadAvgEnd        string  `json:"loadAvgEnd"`
	Kernel            string  `json:"kernel"`
	Commit            string  `json:"commit"`
	ControlPlaneStart float64 `json:"controlPlaneStartSeconds"`
	Nodes             int     `json:"simulatedNodes"`
}

func describeMachine() machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemTotalMiB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

type syscallRusage = syscall.Rusage

// cpuUse is a snapshot of where the machine's CPU time went: each control-plane component's
// CPU seconds, and the machine's busy and total jiffies (/proc/stat). The difference of two
// snapshots says what bound a run: a machine busy all along, and by which component.
type cpuUse struct {
	plane       map[string]float64
	busy, total float64
}

func snapCPU(p *controlplane.Plane) cpuUse {
	u := cpuUse{plane: map[string]float64{}}
	if pids, err := os.ReadFile(filepath.Join(p.Dir(), "pids")); err == nil {
		for _, s := range strings.Fields(string(pids)) {
			pid, _ := strconv.Atoi(s)
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err != nil {
				continue
			}
			if _, cpu, err := procStats(pid); err == nil {
				u.plane[filepath.Base(exe)] += cpu
			}
		}
	}
	if stat, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(stat), "\n")
		for i, f := range strings.Fields(line)[1:] {
			v, _ := strconv.ParseFloat(f, 64)
			u.total += v
			if i != 3 && i != 4 { // idle, iowait
				u.busy += v
			}
		}
	}
	return u
}

// since fills r with the CPU used from u until now.
func (u cpuUse) since(p *controlplane.Plane, r *syncResult) {
	now := snapCPU(p)
	r.PlaneCPU = map[string]float64{}
	for name, v := range now.plane {
		r.PlaneCPU[name] = math.Round((v-u.plane[name])*10) / 10
	}
	if d := now.total - u.total; d > 0 {
		r.MachineBusy = math.Round((now.busy-u.busy)/d*1000) / 1000
	}
}
