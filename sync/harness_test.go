package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/sync/source"
)

var plane *controlplane.Plane

func TestMain(m *testing.M) {
	os.Exit(controlplane.Main(m, controlplane.Options{Nodes: 1}, &plane))
}

// harness is one team with one repository on a real Git server, a dev environment fed by
// main and a prod environment promoted from it (both on the test's control plane, in
// different namespaces), a real SQLite history and a running controller.
type harness struct {
	t        *testing.T
	team     string
	devNS    string
	prodNS   string
	srv      *gittest.Server // serves repo
	repo     *gittest.Repo
	platform *environments.Platform
	store    history.Store
	cache    *source.Cache
	cluster  *Cluster
	ctrl     *Controller
	// stop stops ctrl and waits for its Run to return; calling it again does nothing.
	stop func()
	// clock is the controller's clock; tests may replace it while the controller runs.
	clock atomic.Pointer[func() time.Time]
	// logs holds every line the controller logged, as well as passing it to t.Log.
	logs logBuffer
}

// logBuffer collects log lines for tests to search.
type logBuffer struct {
	mu    gosync.Mutex
	lines []string
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	b.mu.Unlock()
}

// matching returns the lines containing every one of subs.
func (b *logBuffer) matching(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.lines {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) now() time.Time { return (*h.clock.Load())() }

// setClock replaces the controller's clock.
func (h *harness) setClock(now func() time.Time) { h.clock.Store(&now) }

type harnessOption func(*environments.Platform)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	devNS := plane.Namespace(t)
	prodNS := plane.Namespace(t)
	team := devNS
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	p := &environments.Platform{
		APIVersion: environments.APIVersion, Kind: environments.Kind,
		Environments: []environments.Environment{
			{Name: "dev", Branch: "main", Cluster: environments.Cluster{Name: "dev"}, RawKinds: []string{"ConfigMap"},
				Ingresses: []environments.IngressDomain{{Domain: "dev.example.test", Class: "nginx"}},
				Timeout:   environments.Duration{Duration: time.Minute}},
			{Name: "prod", PromoteFrom: "dev", Cluster: environments.Cluster{Name: "prod"}, RawKinds: []string{"ConfigMap"},
				Timeout: environments.Duration{Duration: time.Minute}},
		},
		Teams: []environments.Team{{Name: team, Namespaces: map[string]string{"dev": devNS, "prod": prodNS},
			Repositories: []environments.Repository{{URL: repo.URL(), Branch: "main"}}}},
	}
	for _, o := range opts {
		o(p)
	}
	store, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cluster, err := NewCluster("dev", "local", plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h := &harness{t: t, team: team, devNS: devNS, prodNS: prodNS, srv: srv, repo: repo, platform: p, store: store,
		cache: source.NewCache(t.TempDir(), source.Options{}), cluster: cluster}
	h.setClock(time.Now)
	h.ctrl = NewController(Options{
		Platform: func() *environments.Platform { return h.platform },
		Store:    store,
		Cache:    h.cache,
		Cluster:  func(string) (*Cluster, error) { return h.cluster, nil },
		// A team with a service account deploys as that account, as flyt serve does.
		TeamCluster: func(env string, team *environments.Team) (*Cluster, error) {
			if team.ServiceAccount == "" {
				return h.cluster, nil
			}
			e := h.platform.Environment(env)
			c, err := NewCluster(env, "impersonated", environments.ImpersonateTeam(plane.RESTConfig(), e.TeamNamespace(team), team.ServiceAccount))
			if err == nil {
				t.Cleanup(c.Close)
			}
			return c, err
		},
		Workers:        4,
		ResyncInterval: -1,
		Log: funcr.New(func(prefix, args string) {
			h.logs.add(prefix + " " + args)
			t.Log(prefix, args)
		}, funcr.Options{}),
		PollInterval: 200 * time.Millisecond,
		Now:          func() time.Time { return h.now() },
	})
	h.stop = runController(h.ctrl)
	t.Cleanup(func() { h.stop() })
	return h
}

// runController starts c and returns what stops it.
func runController(c *Controller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	return gosync.OnceFunc(func() { cancel(); <-done })
}

// restart stops the controller and starts a new one with the same options, on the same
// store, as a restarted flyt or a newly elected leader does.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.ctrl = NewController(h.ctrl.opts)
	h.stop = runController(h.ctrl)
}

// push commits files to main and tells the controller, as the poller would.
func (h *harness) push(files map[string]string, msg string) string {
	h.t.Helper()
	sha := h.repo.Commit(h.t, files, msg)
	h.sync()
	return sha
}

func (h *harness) sync() {
	h.t.Helper()
	rev, _, err := h.cache.Sync(h.t.Context(), h.platform.Teams[0].Repositories[0])
	if err != nil {
		h.t.Fatalf("sync repository: %v", err)
	}
	h.ctrl.RepositoryChanged(h.t.Context(), h.platform.Teams[0].Repositories[0], rev)
}

// waitDeploy waits until app's newest deploy in env for commit has finished and returns it.
func (h *harness) waitDeploy(app, env, commit string) *history.DeployDetail {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		page, err := h.store.List(h.t.Context(), history.Filter{App: app, Environment: env, Commit: commit, Limit: 1})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(page.Deploys) > 0 && page.Deploys[0].State.Terminal() {
			d, err := h.store.Get(h.t.Context(), page.Deploys[0].ID)
			if err != nil {
				h.t.Fatal(err)
			}
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	page, _ := h.store.List(h.t.Context(), history.Filter{App: app, Environment: env})
	h.t.Fatalf("no finished deploy of %s to %s at %s; deploys: %+v", app, env, shortSHA(commit), page.Deploys)
	return nil
}

// deploys counts all deploys of app in env.
func (h *harness) deploys(app, env string) []history.Deploy {
	h.t.Helper()
	page, err := h.store.List(h.t.Context(), history.Filter{App: app, Environment: env, Limit: history.MaxLimit})
	if err != nil {
		h.t.Fatal(err)
	}
	return page.Deploys
}

// idle waits until the controller has no queued or running work.
func (h *harness) idle() { h.t.Helper(); h.idleWithin(90 * time.Second) }

func (h *harness) idleWithin(d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		// Idle twice in a row, so a key handed from one step to the next is not missed.
		if h.ctrl.Idle() {
			time.Sleep(50 * time.Millisecond)
			if h.ctrl.Idle() {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatal("controller never became idle")
}

// app returns an Application manifest with the given image and extra spec lines.
func app(name, image string, extra ...string) string {
	return fmt.Sprintf(`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: %s
spec:
  image: %s
  replicas: {min: 1, max: 1}
%s`, name, image, strings.Join(extra, "\n"))
}
