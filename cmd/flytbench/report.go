package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
)

// bench runs the scenarios and fills the report.
type bench struct {
	c     config
	fx    *fixture
	plane *controlplane.Plane
	rep   *report
	work  string
	used  bool // a measured run has used plane
}

type report struct {
	Config    config         `json:"config"`
	Machine   machine        `json:"machine"`
	Sync      []syncResult   `json:"initialSync"`
	Push      *pushResult    `json:"push,omitempty"`
	InProcess *inprocResult  `json:"inProcess,omitempty"`
	Variants  []inprocResult `json:"variants,omitempty"`
	Git       []gitRound     `json:"git,omitempty"`
	History   string         `json:"history,omitempty"`
	Error     string         `json:"error,omitempty"`
	Seconds   float64        `json:"harnessSeconds"`
	name      string
	start     time.Time
}

func newReport(c config) *report {
	m := describeMachine()
	now := time.Now().UTC()
	m.Time = now.Format(time.RFC3339)
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return &report{Config: c, Machine: m, start: now,
		name: fmt.Sprintf("%s-n%d", now.Format("20060102-150405"), c.N)}
}

func (b *bench) skip(s string) bool { return slices.Contains(strings.Split(b.c.Skip, ","), s) }

func (b *bench) all(ctx context.Context) error {
	save := func() { _ = b.rep.write(b.c.Out) }
	for i := 1; i <= b.c.Runs; i++ {
		if !b.skip("kubectl") {
			logf("run %d: kubectl apply --server-side", i)
			if err := b.unused(ctx); err != nil {
				return err
			}
			r, err := b.kubectlSync(ctx, i)
			if err != nil {
				return err
			}
			b.rep.Sync = append(b.rep.Sync, r)
			logf("  applied %.1fs, available %.1fs", r.AppliedSeconds, r.AvailableSeconds)
			save()
		}
		if !b.skip("direct") {
			logf("run %d: direct server-side-apply client, %d workers", i, b.c.Workers)
			if err := b.unused(ctx); err != nil {
				return err
			}
			r, err := b.directSync(ctx, i)
			if err != nil {
				return err
			}
			b.rep.Sync = append(b.rep.Sync, r)
			logf("  applied %.1fs, available %.1fs", r.AppliedSeconds, r.AvailableSeconds)
			save()
		}
		if !b.skip("flyt") {
			keep := i == b.c.Runs && !b.skip("push")
			logf("run %d: flyt serve, %d workers", i, b.c.Workers)
			if err := b.unused(ctx); err != nil {
				return err
			}
			r, p, err := b.flytSync(ctx, i, keep)
			if err != nil {
				return err
			}
			b.rep.Sync = append(b.rep.Sync, r)
			logf("  applied %.1fs, available %.1fs, %d failed, peak RSS %.0f MiB", r.AppliedSeconds, r.AvailableSeconds, r.Failed, r.PeakRSSMiB)
			save()
			if p != nil {
				logf("push latency: %d pushes while %d apps are managed", b.c.Pushes, b.c.N)
				pr, err := b.pushLatency(ctx, p)
				p.stop()
				if err != nil {
					return err
				}
				b.rep.Push = &pr
				logf("  applied p50 %.3fs p99 %.3fs", percentile(pr.Applied, 50), percentile(pr.Applied, 99))
				save()
			}
		}
	}
	if !b.skip("idle") {
		logf("in-process flyt: initial sync (profiled), then %d no-op resyncs", b.c.Idle)
		if err := b.unused(ctx); err != nil {
			return err
		}
		r, err := b.inProcess(ctx, "p", b.c.Workers, 0, b.c.Profile, b.c.Idle)
		if err != nil {
			return err
		}
		b.rep.InProcess = &r
		logf("  initial %.1fs; idle cycle %+v", r.InitialSeconds, r.Idle)
		save()
	}
	for i, v := range strings.Split(b.c.Variants, ",") {
		if v == "" {
			continue
		}
		ws, is, _ := strings.Cut(v, "/")
		workers, werr := strconv.Atoi(ws)
		interval, err := time.ParseDuration(is)
		if werr != nil || err != nil || workers <= 0 {
			return fmt.Errorf("variant %q: want workers/interval, e.g. 16/250ms", v)
		}
		run := fmt.Sprintf("v%d", i)
		logf("in-process flyt variant: %d workers, readiness polled every %s", workers, interval)
		if err := b.unused(ctx); err != nil {
			return err
		}
		r, err := b.inProcess(ctx, run, workers, interval, false, 0)
		if err != nil {
			return err
		}
		b.rep.Variants = append(b.rep.Variants, r)
		logf("  initial %.1fs", r.InitialSeconds)
		save()
	}
	if !b.skip("git") {
		logf("git: %d repositories", b.c.Repos)
		r, err := b.gitScenario(ctx)
		if err != nil {
			return err
		}
		b.rep.Git = r
		save()
	}
	if b.c.History != "" {
		if out, err := os.ReadFile(b.c.History); err == nil {
			b.rep.History = string(out)
		}
	}
	return nil
}

// write writes the report as <name>.json and <name>.md under dir, and copies the profiles
// beside them.
func (r *report) write(dir string) error {
	r.Machine.LoadAvgEnd = loadAvg()
	r.Seconds = time.Since(r.start).Seconds()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// keep copies a profile beside the report as <name>.<suffix> and points at the copy.
	keep := func(profile *string, suffix string) {
		if *profile == "" || strings.HasPrefix(*profile, dir) {
			return
		}
		if data, err := os.ReadFile(*profile); err == nil {
			dst := filepath.Join(dir, r.name+"."+suffix)
			if os.WriteFile(dst, data, 0o644) == nil {
				*profile = dst
			}
		}
	}
	if r.InProcess != nil {
		keep(&r.InProcess.Profile, "initial-sync.cpu.pprof")
	}
	if r.Push != nil {
		keep(&r.Push.Profile, "push.cpu.pprof")
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, r.name+".json"), j, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, r.name+".md"), []byte(r.markdown()), 0o644)
}

// stat is a median with its spread.
type stat struct{ med, lo, hi float64 }

func stats(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

func (s stat) String() string {
	if s.lo == s.hi {
		return trim(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", trim(s.med), trim(s.lo), trim(s.hi))
}

func trim(f float64) string {
	switch a := math.Abs(f); {
	case a >= 100:
		return fmt.Sprintf("%.0f", f)
	case a >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

// percentile is the nearest-rank percentile.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (r *report) of(tool string, f func(syncResult) float64) stat {
	var xs []float64
	for _, s := range r.Sync {
		if s.Tool == tool {
			xs = append(xs, f(s))
		}
	}
	return stats(xs)
}

func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	c := r.Config
	fmt.Fprintf(&b, "# flyt benchmark, N = %d apps × 2 environments\n\n", c.N)
	fmt.Fprintf(&b, "Written by `make bench` (cmd/flytbench) at %s from commit %s. Every figure is the median of the runs, with the spread (min–max) in brackets.\n\n", m.Time, m.Commit)
	if r.Error != "" {
		fmt.Fprintf(&b, "**The run stopped early:** %s\n\n", r.Error)
	}
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s, %d cores (nproc) |\n| memory | %.1f GiB |\n| Go | %s |\n| kernel | %s |\n| load average at start / end | %s / %s |\n| control plane | etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with %d simulated nodes, on the same machine (started in %.0f s) |\n| harness | %d runs, %d apps in %d repositories, %d workers, replicas %d–%d, %.0f s in all |\n\n",
		m.CPUModel, m.NProc, m.MemTotalMiB/1024, m.GoVersion, m.Kernel, m.LoadAvgStart, m.LoadAvgEnd, m.Nodes, m.ControlPlaneStart,
		c.Runs, c.N, c.Repos, c.Workers, c.Replicas, c.Replicas+2, r.Seconds)

	if len(r.Sync) > 0 {
		b.WriteString("## 1. Initial sync\n\n")
		fmt.Fprintf(&b, "%d apps × 2 environments = %d app-environments, 7 objects each (ServiceAccount, Service, Deployment, HPA, PDB, Ingress, NetworkPolicy), on a fresh history and a freshly started control plane each run. *Applied*: every object written (flyt: every deploy's apply step done; kubectl: the command returned). *Available*: flyt: every deploy finished as success (its kstatus wait included); baselines: every Deployment Available with all replicas updated (polled every 100 ms).\n\n", c.N, 2*c.N)
		b.WriteString("| tool | applied (s) | Available (s) | app-envs/s to Available | requests sent | API server writes | peak RSS (MiB) | CPU (s) | failed |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, tool := range []string{"kubectl", "direct-ssa", "flyt"} {
			n := r.of(tool, func(s syncResult) float64 { return 1 })
			if n.med == 0 {
				continue
			}
			rss := r.of(tool, func(s syncResult) float64 { return s.PeakRSSMiB })
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", tool,
				r.of(tool, func(s syncResult) float64 { return s.AppliedSeconds }),
				r.of(tool, func(s syncResult) float64 { return s.AvailableSeconds }),
				r.of(tool, func(s syncResult) float64 { return s.availablePerSecond() }),
				r.of(tool, func(s syncResult) float64 { return s.Requests }),
				r.of(tool, func(s syncResult) float64 { return s.APIServer.Writes }),
				map[bool]string{true: "–", false: rss.String()}[rss.med == 0],
				r.of(tool, func(s syncResult) float64 { return s.CPUSeconds }),
				r.of(tool, func(s syncResult) float64 { return float64(s.Failed) }))
		}
		b.WriteString("\n*requests sent*: flyt's own client-go counter (`rest_client_requests_total`), the direct client's RoundTripper count; for kubectl the API server's count over all clients for these kinds (pods and ReplicaSets included, so the controllers' traffic too). *API server writes*: create/update/patch/apply/delete of the applied kinds, not dry-run, not status (kube-apiserver's `apiserver_request_total`, so the controllers' writes, such as the HPA controller's scale, count too). kubectl's RSS and CPU are the kubectl process's own.\n\n")
		if means := r.of("flyt", func(s syncResult) float64 { return s.StepMeans["deploy"] }); means.med > 0 {
			apply := r.of("flyt", func(s syncResult) float64 { return s.StepMeans["apply"] })
			fmt.Fprintf(&b, "Inside flyt (its own histograms, mean per deploy): queue wait %s s, apply %s s, readiness wait %s s, whole deploy %s s. A worker holds a deploy until it is applied (render, history, apply, prune: about the whole deploy less the readiness wait, which runs beside the workers), so at this API server's pace %d workers bound flyt at about %.1f deploys/s.\n\n",
				r.of("flyt", func(s syncResult) float64 { return s.StepMeans["queue"] }),
				apply,
				r.of("flyt", func(s syncResult) float64 { return s.StepMeans["wait"] }),
				means, c.Workers, float64(c.Workers)/max(means.med-r.of("flyt", func(s syncResult) float64 { return s.StepMeans["wait"] }).med, apply.med))
		}
		b.WriteString(r.cpuTable())
		flytApplied := r.of("flyt", func(s syncResult) float64 { return s.AppliedSeconds }).med
		flytAvail := r.of("flyt", func(s syncResult) float64 { return s.AvailableSeconds }).med
		for _, base := range []string{"kubectl", "direct-ssa"} {
			ba := r.of(base, func(s syncResult) float64 { return s.AppliedSeconds }).med
			bv := r.of(base, func(s syncResult) float64 { return s.AvailableSeconds }).med
			if ba > 0 && flytApplied > 0 {
				fmt.Fprintf(&b, "- flyt / %s: **%.2f×** to applied, **%.2f×** to Available (medians).\n", base, flytApplied/ba, flytAvail/bv)
			}
		}
		b.WriteString("\n")
	}
	if p := r.Push; p != nil && len(p.Applied) > 0 {
		b.WriteString("## 2. Push latency\n\n")
		fmt.Fprintf(&b, "%d pushes of one app (a new image tag), each announced by a signed GitHub push webhook to the flyt of the last initial-sync run, which manages all %d apps in both environments. Timed from sending the webhook; flyt's API polled every 10 ms. The push also re-renders the other apps of the same repository (they are unchanged: a drift check each), and deploys to prod too (it follows main in this platform); each push waits for both before the next.\n\n", p.Pushes, c.N)
		b.WriteString("| | p50 (s) | p99 (s) | max (s) |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| webhook → applied (dev) | %.3f | %.3f | %.3f |\n", percentile(p.Applied, 50), percentile(p.Applied, 99), percentile(p.Applied, 100))
		if len(p.Started) > 0 {
			fmt.Fprintf(&b, "| of which webhook → deploy created (fetch, load, queue) | %.3f | %.3f | %.3f |\n", percentile(p.Started, 50), percentile(p.Started, 99), percentile(p.Started, 100))
		}
		fmt.Fprintf(&b, "| webhook → deploy success (dev, rollout waited for) | %.3f | %.3f | %.3f |\n\n", percentile(p.Done, 50), percentile(p.Done, 99), percentile(p.Done, 100))
		if p.Profile != "" {
			fmt.Fprintf(&b, "CPU profile of flyt serve over the first pushes: `%s` (`go tool pprof -top` it).\n\n", filepath.Base(p.Profile))
		}
		if p.Failed > 0 {
			fmt.Fprintf(&b, "%d pushes did not end in success.\n\n", p.Failed)
		}
	}
	if ip := r.InProcess; ip != nil {
		b.WriteString("## 3. Idle cost: a no-op resync of every app\n\n")
		fmt.Fprintf(&b, "flyt's sync controller in the harness process (`sync.NewController`, %d workers, readiness polled at the controller's default, 500 ms, as in flyt serve, SQLite history), its requests counted by a wrapping RoundTripper. First an initial sync of the %d apps × 2 environments (%.1f s, %.1f CPU s, %d requests: %d GET, %d LIST, %d writes, %d dry-run; CPU-profiled), then `Controller.ResyncAll` %d times with nothing changed, each waited until the controller was idle.\n\n",
			c.Workers, c.N, ip.InitialSeconds, ip.InitialCPU, ip.Initial.Total, ip.Initial.Gets, ip.Initial.Lists, ip.Initial.Writes, ip.Initial.DryRuns, len(ip.Idle))
		var secs, cpu, reqs, perApp, writes, dry, apiWrites, newDeploys []float64
		for _, cy := range ip.Idle {
			secs = append(secs, cy.Seconds)
			cpu = append(cpu, cy.CPUSeconds)
			reqs = append(reqs, float64(cy.Requests.Total))
			perApp = append(perApp, float64(cy.Requests.Total)/float64(cy.Keys))
			writes = append(writes, float64(cy.Requests.Writes))
			dry = append(dry, float64(cy.Requests.DryRuns))
			apiWrites = append(apiWrites, cy.APIServer.Writes)
			newDeploys = append(newDeploys, cy.NewDeploys)
		}
		b.WriteString("| per cycle | value |\n|---|---|\n")
		fmt.Fprintf(&b, "| app-environments checked | %d |\n| wall time (s) | %s |\n| CPU seconds (harness process = flyt's controller) | %s |\n| requests | %s |\n| requests per app-environment | %s |\n| of which writes | %s |\n| of which server-side dry-run applies (drift check) | %s |\n| API server writes of the applied kinds (all clients) | %s |\n| deploys started | %s |\n\n",
			2*c.N, stats(secs), stats(cpu), stats(reqs), stats(perApp), stats(writes), stats(dry), stats(apiWrites), stats(newDeploys))
		if ip.Profile != "" {
			fmt.Fprintf(&b, "CPU profile of the in-process initial sync: `%s` (`go tool pprof -top` it).\n\n", filepath.Base(ip.Profile))
		}
	}
	if len(r.Variants) > 0 {
		b.WriteString("## What bounds the initial sync\n\n")
		b.WriteString("flyt's sync controller in the harness process (as in 3), initial sync of every app with other worker counts and readiness poll intervals (`sync.Options.Workers`, `PollInterval`). One run each.\n\n| workers | readiness poll | to every deploy success (s) | app-envs/s | requests | CPU (s) |\n|---|---|---|---|---|---|\n")
		all := r.Variants
		if r.InProcess != nil {
			all = append([]inprocResult{*r.InProcess}, all...)
		}
		for _, v := range all {
			fmt.Fprintf(&b, "| %d | %s | %.1f | %.2f | %d | %.1f |\n", v.Workers, v.PollInterval, v.InitialSeconds, float64(2*c.N)/v.InitialSeconds, v.Initial.Total, v.InitialCPU)
		}
		b.WriteString("\n")
	}
	if len(r.Git) > 0 {
		b.WriteString("## 4. Git\n\n")
		fmt.Fprintf(&b, "%d repositories on a local smart-HTTP server (`git http-backend`), synced into a fresh flyt Git cache (`source.Cache.Sync`, 4 at a time as the poller does): ls-remote first, fetch only when the branch moved.\n\n", r.Config.Repos)
		b.WriteString("| round | time (s) | fetched | skipped by ls-remote | packfile bytes received | server bytes out | upload-packs | HTTP requests |\n|---|---|---|---|---|---|---|---|\n")
		for _, g := range r.Git {
			fmt.Fprintf(&b, "| %s | %.3f | %d | %d (%.0f%%) | %.0f | %d | %d | %d |\n", g.Kind, g.Seconds, g.Changed, g.Skipped, 100*float64(g.Skipped)/float64(g.Repos), g.FetchBytes, g.ServerBytes, g.UploadPacks, g.HTTPRequests)
		}
		b.WriteString("\n")
	}
	if r.History != "" {
		b.WriteString("## 5. History store\n\n`go test -run '^$' -bench BenchmarkStore ./history` (its own benchmark, reused), output as it ran:\n\n```\n")
		b.WriteString(strings.TrimSpace(r.History))
		b.WriteString("\n```\n")
	}
	return b.String()
}

// cpuTable says where the machine's CPU went during each tool's initial sync: the tool, each
// control-plane component, and how busy the whole machine was (medians over the runs).
func (r *report) cpuTable() string {
	var names []string
	for _, s := range r.Sync {
		for n := range s.PlaneCPU {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("Where the CPU went from start to Available (CPU seconds, medians; the machine has " + fmt.Sprint(r.Machine.NProc) + " cores, so a busy share near 100% means the run was bound by CPU, whoever used it):\n\n| tool | tool's CPU | " + strings.Join(names, " | ") + " | machine busy |\n|---|---|" + strings.Repeat("---|", len(names)) + "---|\n")
	for _, tool := range []string{"kubectl", "direct-ssa", "flyt"} {
		if r.of(tool, func(s syncResult) float64 { return 1 }).med == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f |", tool, r.of(tool, func(s syncResult) float64 { return s.CPUSeconds }).med)
		for _, n := range names {
			fmt.Fprintf(&b, " %.0f |", r.of(tool, func(s syncResult) float64 { return s.PlaneCPU[n] }).med)
		}
		fmt.Fprintf(&b, " %.0f%% |\n", 100*r.of(tool, func(s syncResult) float64 { return s.MachineBusy }).med)
	}
	b.WriteString("\n")
	return b.String()
}
