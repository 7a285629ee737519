// Command flytbench measures flyt on the local control plane, side by side with what an
// operator would use instead, and writes a Markdown and a JSON report under bench/results/.
//
// Scenarios: initial sync of N apps × 2 environments spread over up to 50
// repositories, against `kubectl apply --server-side` and a minimal direct server-side-apply
// client; push latency (signed webhook → applied) while the N apps are managed; the cost of a
// no-op resync of every app; Git polling of 50 repositories; and the history store benchmark
// (run by hack/bench.sh and embedded here).
//
//	FLYT_CONTROLPLANE_DIR=$(hack/controlplane.sh) go run ./cmd/flytbench -n 100 -runs 3
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// config is what a run of the harness is asked to do.
type config struct {
	N        int    // apps; each deploys to dev and prod
	Repos    int    // repositories the apps are spread over
	Runs     int    // repetitions of each measured scenario
	Workers  int    // flyt's server.workers, and the direct client's concurrency
	Pushes   int    // pushes measured in the push-latency scenario
	Idle     int    // no-op resync cycles measured
	Out      string // results folder
	History  string // file with the history benchmark's output, embedded in the report
	Profile  bool   // CPU-profile the in-process initial sync
	Skip     string // comma-separated scenarios to skip: kubectl, direct, flyt, push, idle, git
	FlytBin  string // a prebuilt flyt binary; built when empty
	Nodes    int    // simulated nodes; 0: enough for the pods
	Replicas int    // replicas.min of each app (max is min+2)
	// Variants are extra in-process initial syncs, "workers/interval" each, to see what bounds
	// flyt's rate (e.g. "4/250ms,16/1s").
	Variants string
}

func main() {
	var c config
	flag.IntVar(&c.N, "n", envInt("FLYT_BENCH_N", 100), "apps, each deployed to dev and prod (env FLYT_BENCH_N)")
	flag.IntVar(&c.Repos, "repos", 50, "repositories the apps are spread over (at most n)")
	flag.IntVar(&c.Runs, "runs", envInt("FLYT_BENCH_RUNS", 3), "repetitions of each scenario (env FLYT_BENCH_RUNS)")
	flag.IntVar(&c.Workers, "workers", envInt("FLYT_BENCH_WORKERS", 16), "flyt's server.workers and the direct client's concurrency (env FLYT_BENCH_WORKERS)")
	flag.IntVar(&c.Pushes, "pushes", envInt("FLYT_BENCH_PUSHES", 100), "pushes in the push-latency scenario (env FLYT_BENCH_PUSHES)")
	flag.IntVar(&c.Idle, "idle-cycles", 3, "no-op resync cycles measured")
	flag.StringVar(&c.Out, "out", "bench/results", "folder for the reports")
	flag.StringVar(&c.History, "history-output", "", "file holding the history benchmark's output, to embed")
	flag.BoolVar(&c.Profile, "profile", true, "write a CPU profile of flyt's in-process initial sync next to the report")
	flag.StringVar(&c.Skip, "skip", os.Getenv("FLYT_BENCH_SKIP"), "scenarios to skip, comma-separated: kubectl,direct,flyt,push,idle,git (env FLYT_BENCH_SKIP)")
	flag.StringVar(&c.FlytBin, "flyt", "", "flyt binary to run (built from this module when empty)")
	flag.IntVar(&c.Nodes, "nodes", 0, "simulated nodes (0: enough for the pods)")
	flag.IntVar(&c.Replicas, "replicas", 2, "replicas.min of every app; max is min+2, so each app has an HPA and a PDB")
	flag.StringVar(&c.Variants, "variants", os.Getenv("FLYT_BENCH_VARIANTS"), "extra in-process initial syncs, workers/readiness-interval each, e.g. 4/250ms,16/1s (env FLYT_BENCH_VARIANTS)")
	flag.Parse()
	c.Repos = max(1, min(c.Repos, c.N))
	ctrllog.SetLogger(logr.Discard())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, c)
	stop()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) error {
	work, err := os.MkdirTemp("", "flytbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if c.FlytBin == "" {
		c.FlytBin = filepath.Join(work, "flyt")
		logf("building flyt")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.FlytBin, "github.com/flyt-platform/flyt/cmd/flyt")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build flyt: %w", err)
		}
	}

	rep := newReport(c)
	nodes := c.Nodes
	if nodes == 0 {
		// kwok nodes take 110 pods; leave room for the HPA's scaling.
		nodes = 2 + 2*(2*c.N*c.Replicas+109)/110
	}
	rep.Machine.Nodes = nodes
	b := &bench{c: c, rep: rep, work: work}
	if err := b.freshPlane(ctx); err != nil {
		return err
	}
	defer func() {
		if err := b.plane.Stop(); err != nil {
			log.Printf("stop the control plane: %v", err)
		}
	}()

	srv, err := gittest.Serve(filepath.Join(work, "git"), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer srv.Close()
	if b.fx, err = newFixture(c, srv, b.plane, work); err != nil {
		return err
	}
	logf("%d apps in %d repositories", c.N, c.Repos)

	if err := b.all(ctx); err != nil {
		// Write what was measured before the failure, then fail.
		rep.Error = err.Error()
		_ = rep.write(c.Out)
		return err
	}
	return rep.write(c.Out)
}

// freshPlane gives the next measured run a control plane of its own: the previous one is
// stopped and a new one started (about 8 s with 76 nodes). Deleting a run's namespaces
// instead took the namespace controller longer than the runs themselves at N = 1000 (its
// pods, ReplicaSets and events are deleted one by one), and its work overlapped the next
// run's, so every run but the first was measured on a busier API server.
func (b *bench) freshPlane(ctx context.Context) error {
	if b.plane != nil {
		if err := b.plane.Stop(); err != nil {
			return fmt.Errorf("stop the control plane: %w", err)
		}
		b.plane = nil
	}
	logf("starting a control plane with %d simulated nodes", b.rep.Machine.Nodes)
	start := time.Now()
	plane, err := controlplane.Start(ctx, controlplane.Options{Nodes: b.rep.Machine.Nodes, Name: "bench"})
	if err != nil {
		return err
	}
	b.plane = plane
	if b.fx != nil {
		b.fx.plane = plane
	}
	if b.rep.Machine.ControlPlaneStart == 0 {
		b.rep.Machine.ControlPlaneStart = time.Since(start).Seconds()
	}
	b.used = false
	return nil
}

// unused makes sure the next measured run starts on a control plane no run has used yet.
func (b *bench) unused(ctx context.Context) error {
	if !b.used {
		b.used = true
		return nil
	}
	if err := b.freshPlane(ctx); err != nil {
		return err
	}
	b.used = true
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s flytbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func envInt(name string, def int) int {
	var v int
	if s := os.Getenv(name); s != "" {
		if _, err := fmt.Sscan(s, &v); err == nil {
			return v
		}
	}
	return def
}
