package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
)

// kubectlSync is baseline (a): what an operator would do by hand, `kubectl apply
// --server-side` of the very objects flyt renders, in one invocation.
func (b *bench) kubectlSync(ctx context.Context, i int) (syncResult, error) {
	run := fmt.Sprintf("k%d", i)
	res := syncResult{Tool: "kubectl", Run: i, Deploys: 2 * b.c.N, Note: "requests: kube-apiserver's count (all clients) for the applied kinds"}
	units, err := b.fx.render(run)
	if err != nil {
		return res, err
	}
	var buf bytes.Buffer
	for _, u := range units {
		for _, o := range u.objects {
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				return res, err
			}
			buf.WriteString("---\n")
			buf.Write(y)
		}
	}
	file := filepath.Join(b.work, "runs", run, "objects.yaml")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		return res, err
	}
	if err := b.fx.createNamespaces(ctx, run); err != nil {
		return res, err
	}
	before, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, err
	}
	kubectl := filepath.Join(os.Getenv("FLYT_CONTROLPLANE_DIR"), "bin", "kubectl")
	use := snapCPU(b.plane)
	start := time.Now()
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", b.plane.Kubeconfig(), "apply", "--server-side", "--field-manager", "kubectl-bench", "-f", file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("kubectl apply: %w: %s", err, lastLines(out, 5))
	}
	res.AppliedSeconds = time.Since(start).Seconds()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscallRusage); ok {
			res.PeakRSSMiB = float64(ru.Maxrss) / 1024
		}
		res.CPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	if err := b.waitAvailable(ctx, run); err != nil {
		return res, err
	}
	res.AvailableSeconds = time.Since(start).Seconds()
	use.since(b.plane, &res)
	after, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, err
	}
	res.APIServer = apiserverDelta(before, after)
	res.Requests = res.APIServer.Total
	return res, nil
}

// directSync is baseline (b): the floor for the apply part, a controller-runtime client
// applying each app-environment's objects server-side, one after another, with as many
// workers as flyt has. No history, no render, no readiness checks of its own.
func (b *bench) directSync(ctx context.Context, i int) (syncResult, error) {
	run := fmt.Sprintf("d%d", i)
	res := syncResult{Tool: "direct-ssa", Run: i, Deploys: 2 * b.c.N}
	units, err := b.fx.render(run)
	if err != nil {
		return res, err
	}
	if err := b.fx.createNamespaces(ctx, run); err != nil {
		return res, err
	}
	var rc requestCounter
	cl, err := client.New(rc.wrap(clientConfig(b.plane)), client.Options{})
	if err != nil {
		return res, err
	}
	before, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, err
	}
	cpu0 := selfCPU()
	use := snapCPU(b.plane)
	start := time.Now()
	work := make(chan unit)
	errs := make(chan error, b.c.Workers)
	var wg sync.WaitGroup
	for range b.c.Workers {
		wg.Go(func() {
			for u := range work {
				for _, o := range u.objects {
					o = o.DeepCopy()
					//nolint:staticcheck // SA1019: the plain Patch with client.Apply is the minimal client this baseline stands for.
					if err := cl.Patch(ctx, o, client.Apply, client.FieldOwner("direct-bench"), client.ForceOwnership); err != nil {
						select {
						case errs <- fmt.Errorf("apply %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err):
						default:
						}
					}
				}
			}
		})
	}
	for _, u := range units {
		work <- u
	}
	close(work)
	wg.Wait()
	res.AppliedSeconds = time.Since(start).Seconds()
	res.CPUSeconds = selfCPU() - cpu0
	select {
	case err := <-errs:
		return res, err
	default:
	}
	rs := rc.snapshot()
	res.Requests = float64(rs.Total)
	if err := b.waitAvailable(ctx, run); err != nil {
		return res, err
	}
	res.AvailableSeconds = time.Since(start).Seconds()
	use.since(b.plane, &res)
	after, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, err
	}
	res.APIServer = apiserverDelta(before, after)
	return res, nil
}

// waitAvailable waits until every Deployment of the run is Available with every replica
// updated, polling every 100 ms.
func (b *bench) waitAvailable(ctx context.Context, run string) error {
	want := 2 * b.c.N
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		ready := 0
		for _, ns := range b.fx.namespaces(run) {
			var list appsv1.DeploymentList
			if err := b.plane.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, d := range list.Items {
				if d.Status.ObservedGeneration < d.Generation || d.Spec.Replicas == nil || d.Status.UpdatedReplicas < *d.Spec.Replicas || d.Status.AvailableReplicas < *d.Spec.Replicas {
					continue
				}
				for _, c := range d.Status.Conditions {
					if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("deployments of run %s not Available in 30 minutes", run)
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// clientConfig is the plane's REST config with flyt's client limits (environments.DefaultQPS
// and DefaultBurst), which flyt serve sets on every cluster connection.
func clientConfig(p *controlplane.Plane) *rest.Config {
	cfg := p.RESTConfig()
	cfg.QPS, cfg.Burst = environments.DefaultQPS, environments.DefaultBurst
	return cfg
}
