// Package controlplane runs a real, local Kubernetes control plane for flyt's tests, benchmarks
// and demo: etcd and kube-apiserver (through controller-runtime's envtest), and, when nodes are
// asked for, kube-controller-manager, kube-scheduler and kwok, so that Deployments really roll
// out onto simulated nodes and pods.
//
// The binaries are built from the Go module proxy by hack/controlplane.sh (`make controlplane`)
// into a cache outside the repository; Dir finds them. Every process the package starts is
// stopped by Stop, and a small watchdog process kills them all if the test binary dies without
// calling Stop (a panic or a test timeout), so no etcd or kube-* process outlives its test run.
//
// Simulated pods become Running and Ready at once, except those that ask to fail: a container
// image containing "crashloop", or the pod annotation flyt.dev/simulate: crashloop, keeps the
// pod in CrashLoopBackOff (see kwok-stages.yaml).
package controlplane

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flyt-platform/flyt/internal/testenv/toolcache"
)

// SimulateAnnotation on a pod (or a pod template) set to SimulateCrashLoop keeps the simulated
// pod in CrashLoopBackOff.
const (
	SimulateAnnotation = "flyt.dev/simulate"
	SimulateCrashLoop  = "crashloop"
)

//go:embed versions.env
var versionsEnv string

//go:embed kwok-stages.yaml
var kwokStages []byte

// ErrNotBuilt means the control-plane binaries are not in the cache yet.
var ErrNotBuilt = errors.New("control-plane binaries not built: run `make controlplane`")

// Versions returns the component versions from versions.env (K8S_VERSION, ETCD_VERSION,
// KWOK_VERSION), the single place they are written down.
func Versions() map[string]string { return toolcache.Versions(versionsEnv) }

// Dir returns the cache folder holding bin/ with the control-plane binaries. It is
// $FLYT_CONTROLPLANE_DIR when set, otherwise <user cache dir>/flyt/controlplane/<version set>,
// the folder hack/controlplane.sh fills.
func Dir() (string, error) {
	if d := os.Getenv("FLYT_CONTROLPLANE_DIR"); d != "" {
		return d, nil
	}
	root, err := toolcache.Root("FLYT_CONTROLPLANE_CACHE", "controlplane")
	if err != nil {
		return "", err
	}
	v := Versions()
	return filepath.Join(root, fmt.Sprintf("k8s-%s-etcd-%s-kwok-%s", v["K8S_VERSION"], v["ETCD_VERSION"], v["KWOK_VERSION"])), nil
}

// Options configures a control plane.
type Options struct {
	// Nodes, when above zero, also starts kube-controller-manager, kube-scheduler and kwok and
	// registers that many simulated nodes, so that workloads roll out. Zero starts only etcd and
	// kube-apiserver, which is enough for apply and dry-run tests and starts in a few seconds.
	Nodes int
	// Output receives the components' logs. Default: discarded, or os.Stderr when the
	// environment variable FLYT_CONTROLPLANE_LOG is set.
	Output io.Writer
	// Name labels the plane in errors and logs when several run at once (dev, prod).
	Name string
}

// Plane is a running local control plane.
type Plane struct {
	opts       Options
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	dir        string
	bin        string
	client     client.Client

	// Guards the fields below.
	mu       sync.Mutex
	procs    []*exec.Cmd
	watchdog *exec.Cmd
	stopped  bool
}

// Start starts a control plane and waits until it serves. Stop it with Stop.
func Start(ctx context.Context, opts Options) (p *Plane, retErr error) {
	base, err := Dir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(base, "bin")
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%w (missing %s in %s)", ErrNotBuilt, name, bin)
		}
	}
	if opts.Output == nil {
		opts.Output = io.Discard
		if os.Getenv("FLYT_CONTROLPLANE_LOG") != "" {
			opts.Output = os.Stderr
		}
	}
	if opts.Name == "" {
		opts.Name = "local"
	}
	dir, err := os.MkdirTemp("", "flyt-controlplane-"+opts.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("create control-plane dir: %w", err)
	}
	p = &Plane{opts: opts, dir: dir, bin: bin}
	defer func() {
		if retErr != nil {
			_ = p.Stop()
		}
	}()
	// The watchdog starts first so that it covers every process started after it.
	if err := p.startWatchdog(); err != nil {
		return nil, err
	}

	p.env = &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
		AttachControlPlaneOutput: opts.Output != io.Discard,
	}
	api := p.env.ControlPlane.GetAPIServer()
	// envtest's default service range is a /24; flyt's benchmarks create thousands of Services.
	api.Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	api.Out, api.Err = opts.Output, opts.Output
	p.env.ControlPlane.Etcd = &envtest.Etcd{Out: opts.Output, Err: opts.Output}
	p.env.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "true")

	cfg, err := p.env.Start()
	if err != nil {
		return nil, fmt.Errorf("start %s control plane: %w", opts.Name, err)
	}
	p.trackChildren()
	cfg.QPS, cfg.Burst = 200, 400
	p.cfg = cfg

	admin, err := p.env.AddUser(envtest.User{Name: "flyt-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("write admin kubeconfig: %w", err)
	}
	p.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(p.kubeconfig, kc, 0o600); err != nil {
		return nil, fmt.Errorf("write admin kubeconfig: %w", err)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	p.client, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}

	if opts.Nodes > 0 {
		if err := p.startWorkloadComponents(); err != nil {
			return nil, err
		}
		if err := p.CreateNodes(ctx, opts.Nodes); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// RESTConfig returns a copy of the admin client config.
func (p *Plane) RESTConfig() *rest.Config { return rest.CopyConfig(p.cfg) }

// Kubeconfig returns the path of a kubeconfig file for the admin user, usable with kubectl.
func (p *Plane) Kubeconfig() string { return p.kubeconfig }

// Client returns a controller-runtime client with the client-go scheme.
func (p *Plane) Client() client.Client { return p.client }

// Dir returns the plane's scratch folder (certificates, kubeconfig, kwok config); it is
// removed by Stop.
func (p *Plane) Dir() string { return p.dir }

// startWorkloadComponents starts kube-controller-manager, kube-scheduler and kwok.
func (p *Plane) startWorkloadComponents() error {
	stages := filepath.Join(p.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}
	kc := "--kubeconfig=" + p.kubeconfig
	if err := p.run("kube-controller-manager", kc,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=deployment,replicaset,garbagecollector,nodelifecycle,horizontalpodautoscaling,disruption,endpointslice,namespace,serviceaccount,job,statefulset,daemonset",
		"--concurrent-deployment-syncs=20",
		"--concurrent-replicaset-syncs=20",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--node-monitor-grace-period=60s",
	); err != nil {
		return err
	}
	if err := p.run("kube-scheduler", kc, "--leader-elect=false", "--secure-port=0", "--kube-api-qps=500", "--kube-api-burst=1000"); err != nil {
		return err
	}
	return p.run("kwok", kc,
		"--config="+stages,
		"--manage-all-nodes=true",
		"--node-lease-duration-seconds=40",
		"--server-address=",
	)
}

// run starts one component in its own process group.
func (p *Plane) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Stdout, cmd.Stderr = p.opts.Output, p.opts.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.procs = append(p.procs, cmd)
	p.writePIDsLocked()
	return nil
}

// CreateNodes registers n more simulated nodes that kwok keeps Ready.
func (p *Plane) CreateNodes(ctx context.Context, n int) error {
	var list corev1.NodeList
	if err := p.client.List(ctx, &list); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	start := len(list.Items)
	for i := start; i < start+n; i++ {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        "kwok-node-" + strconv.Itoa(i),
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": "kwok-node-" + strconv.Itoa(i)},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		}}
		if err := p.client.Create(ctx, node); err != nil {
			return fmt.Errorf("create node %s: %w", node.Name, err)
		}
	}
	return p.waitNodesReady(ctx, start+n)
}

func (p *Plane) waitNodesReady(ctx context.Context, want int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var list corev1.NodeList
		if err := p.client.List(ctx, &list); err == nil {
			ready := 0
			for _, n := range list.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready >= want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d simulated nodes to be Ready (is kwok running? set FLYT_CONTROLPLANE_LOG=1 to see its log): %w", want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops every process the plane started and removes its scratch folder. It is safe to
// call more than once.
func (p *Plane) Stop() error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	procs := p.procs
	p.mu.Unlock()

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		stopProcess(procs[i])
	}
	if p.env != nil {
		if err := p.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop %s control plane: %w", p.opts.Name, err))
		}
	}
	if p.watchdog != nil && p.watchdog.Process != nil {
		_ = syscall.Kill(-p.watchdog.Process.Pid, syscall.SIGKILL)
		_ = p.watchdog.Wait()
	}
	if err := os.RemoveAll(p.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopProcess asks a process group to terminate and kills it after a grace period.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// startWatchdog starts a shell loop, in its own process group so that Ctrl-C in a terminal
// does not reach it, that waits for this process to exit and then kills every process listed in
// the plane's pid file and removes the scratch folder. Stop kills the watchdog first when
// things end normally.
func (p *Plane) startWatchdog() error {
	const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
for pid in $(cat "$2" 2>/dev/null); do kill -9 -- "-$pid" "$pid" 2>/dev/null; done
rm -rf "$3"`
	cmd := exec.Command("/bin/sh", "-c", script, "flyt-controlplane-watchdog",
		strconv.Itoa(os.Getpid()), filepath.Join(p.dir, "pids"), p.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start control-plane watchdog: %w", err)
	}
	p.watchdog = cmd
	return nil
}

// trackChildren records the pids of this process's children (envtest starts etcd and
// kube-apiserver itself, so their pids are found in /proc) for the watchdog.
func (p *Plane) trackChildren() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writePIDsLocked()
}

func (p *Plane) writePIDsLocked() {
	var pids []string
	for _, pid := range childPIDs() {
		if p.watchdog != nil && p.watchdog.Process != nil && pid == p.watchdog.Process.Pid {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasPrefix(exe, p.bin) {
			continue
		}
		pids = append(pids, strconv.Itoa(pid))
	}
	_ = os.WriteFile(filepath.Join(p.dir, "pids"), []byte(strings.Join(pids, "\n")+"\n"), 0o600)
}

// childPIDs lists the pids whose parent is this process, from /proc.
func childPIDs() []int {
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces; fields after it are fixed.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
