package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	flytsync "github.com/flyt-platform/flyt/sync"
	"github.com/flyt-platform/flyt/sync/source"
)

// inprocResult is flyt's controller run inside the harness: its initial sync (CPU-profiled,
// with every request it sends classified) and then no-op resyncs of every app.
type inprocResult struct {
	Workers int `json:"workers"`
	// PollInterval is the readiness poll interval of the controller (sync.Options.PollInterval).
	PollInterval   string        `json:"pollInterval"`
	InitialSeconds float64       `json:"initialSeconds"`
	InitialCPU     float64       `json:"initialCPUSeconds"`
	Initial        requestCounts `json:"initialRequests"`
	Profile        string        `json:"profile,omitempty"`
	Idle           []idleCycle   `json:"idle"`
}

// idleCycle is one full resync of every app when nothing changed.
type idleCycle struct {
	Keys       int             `json:"keys"`
	Seconds    float64         `json:"seconds"`
	CPUSeconds float64         `json:"cpuSeconds"`
	Requests   requestCounts   `json:"requests"`
	APIServer  apiserverCounts `json:"apiserver"`
	NewDeploys float64         `json:"newDeploys"`
}

func (b *bench) inProcess(ctx context.Context, run string, workers int, poll time.Duration, profile bool, idle int) (inprocResult, error) {
	res := inprocResult{Workers: workers, PollInterval: poll.String()}
	dataDir := filepath.Join(b.work, "runs", run, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return res, err
	}
	if err := b.fx.createNamespaces(ctx, run); err != nil {
		return res, err
	}
	file, err := b.fx.platformYAML(run, dataDir, workers)
	if err != nil {
		return res, err
	}
	p, err := environments.Load(file)
	if err != nil {
		return res, err
	}
	store, err := history.Open(ctx, filepath.Join(dataDir, "history.db"))
	if err != nil {
		return res, err
	}
	defer store.Close()
	var rc requestCounter
	cfg := rc.wrap(clientConfig(b.plane))
	clusters := map[string]*flytsync.Cluster{}
	for _, e := range envs {
		if clusters[e], err = flytsync.NewCluster(e, "bench-"+e, cfg); err != nil {
			return res, err
		}
		defer clusters[e].Close()
	}
	reg := prometheus.NewRegistry()
	cache := source.NewCache(filepath.Join(dataDir, "git"), source.Options{})
	ctrl := flytsync.NewController(flytsync.Options{
		Platform:       func() *environments.Platform { return p },
		Store:          store,
		Cache:          cache,
		Cluster:        func(env string) (*flytsync.Cluster, error) { return clusters[env], nil },
		Workers:        workers,
		PollInterval:   poll,
		ResyncInterval: -1,
		Metrics:        flytsync.NewMetrics(reg),
		Log:            logr.Discard(),
	})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = ctrl.Run(cctx); close(done) }()
	defer func() { cancel(); <-done }()

	if profile {
		res.Profile = filepath.Join(b.work, "initial-sync.cpu.pprof")
		f, err := os.Create(res.Profile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	cpu0, start := selfCPU(), time.Now()
	// As the poller's first round does: every repository synced (4 at a time) and announced.
	var g errgroup.Group
	g.SetLimit(4)
	for _, t := range p.Teams {
		for _, repo := range t.Repositories {
			g.Go(func() error {
				rev, _, err := cache.Sync(ctx, repo)
				if err != nil {
					return err
				}
				ctrl.RepositoryChanged(ctx, repo, rev)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if err := waitIdle(ctx, ctrl); err != nil {
		return res, err
	}
	res.InitialSeconds = time.Since(start).Seconds()
	res.InitialCPU = selfCPU() - cpu0
	res.Initial = rc.snapshot()
	if profile {
		pprof.StopCPUProfile()
	}
	if got := deploysOf(reg, "success"); got < float64(2*b.c.N) {
		return res, fmt.Errorf("in-process initial sync: %v successful deploys, want %d", got, 2*b.c.N)
	}

	for range idle {
		before := rc.snapshot()
		abefore, err := apiserverMetrics(ctx, b.plane.RESTConfig())
		if err != nil {
			return res, err
		}
		deploys0 := deploysOf(reg, "")
		cpu0, start := selfCPU(), time.Now()
		ctrl.ResyncAll()
		if err := waitIdle(ctx, ctrl); err != nil {
			return res, err
		}
		c := idleCycle{Keys: 2 * b.c.N, Seconds: time.Since(start).Seconds(), CPUSeconds: selfCPU() - cpu0,
			Requests: rc.snapshot().minus(before), NewDeploys: deploysOf(reg, "") - deploys0}
		aafter, err := apiserverMetrics(ctx, b.plane.RESTConfig())
		if err != nil {
			return res, err
		}
		c.APIServer = apiserverDelta(abefore, aafter)
		res.Idle = append(res.Idle, c)
	}
	return res, nil
}

// waitIdle waits until the controller has had nothing queued or running for two checks in a row.
func waitIdle(ctx context.Context, c *flytsync.Controller) error {
	deadline := time.Now().Add(30 * time.Minute)
	streak := 0
	for streak < 2 {
		if time.Now().After(deadline) {
			return fmt.Errorf("controller still busy after 30 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if c.Idle() {
			streak++
		} else {
			streak = 0
		}
	}
	return nil
}

// deploysOf sums flyt_deploys_total over the state ("" for all).
func deploysOf(reg *prometheus.Registry, state string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var t float64
	for _, mf := range mfs {
		if mf.GetName() != "flyt_deploys_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := state == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" && l.GetValue() == state {
					ok = true
				}
			}
			if ok {
				t += m.GetCounter().GetValue()
			}
		}
	}
	return t
}
