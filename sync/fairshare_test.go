package sync

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/sync/source"
)

// TestOneTeamCannotStarveAnother: team A is pathological — its Git server takes a minute to
// answer a fetch, one of its apps never becomes ready and another crash-loops — while team B
// pushes twenty times. Every one of B's pushes is deployed while A's fetch still hangs: A's
// keys, each waiting for its repository behind that fetch, hold at most A's share of the
// workers. B's push → deployed latency is measured with A pathological and, first, with A
// quiet, and logged with their ratio.
func TestOneTeamCannotStarveAnother(t *testing.T) {
	const pushes, fetchDelay = 20, time.Minute
	h := newHarness(t, func(p *environments.Platform) {
		p.Environments[0].Timeout.Duration = 10 * time.Minute // the stuck rollout waits all test long
	})
	repoA := h.platform.Teams[0].Repositories[0]
	repoB, cfgB := secondTeam(t, h, gittest.NewServer(t), "team-b/apps")
	teamA := h.team

	poller := source.NewPoller(h.cache, func() []environments.Repository { return []environments.Repository{repoA, cfgB} },
		source.PollerOptions{Interval: time.Hour, Timeout: 2 * fetchDelay}, h.ctrl.RepositoryChanged, nil)
	filesA := func(tag string) map[string]string {
		f := map[string]string{
			".nais/stuck.yaml": app("stuck", "registry.example/stuck:1", "  resources:\n    requests:\n      cpu: \"5000\""),
			".nais/crash.yaml": app("crash", "registry.example/crashloop:1"),
		}
		for i := range 10 {
			name := fmt.Sprintf("a%d", i)
			f[".nais/"+name+".yaml"] = app(name, "registry.example/"+name+":"+tag)
		}
		return f
	}
	firstA := h.repo.Commit(t, filesA("1"), "team a")
	firstB := repoB.Commit(t, map[string]string{".nais/b.yaml": app("b", "registry.example/b:0")}, "team b")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = poller.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := range 10 {
		if d := h.waitDeploy(fmt.Sprintf("a%d", i), "dev", firstA); d.State != history.StateSuccess {
			t.Fatalf("a%d: %s %q", i, d.State, d.Message)
		}
	}
	if d := h.waitDeploy("crash", "dev", firstA); d.State != history.StateFailure {
		t.Fatalf("crash: %s %q, want a failure", d.State, d.Message)
	}
	if d := h.waitDeploy("b", "dev", firstB); d.State != history.StateSuccess {
		t.Fatalf("b: %s %q", d.State, d.Message)
	}

	// pushB pushes a new image of b through the poller, as a webhook does, and returns how long
	// it took from the push to the deploy's success.
	tag := 0
	pushB := func() time.Duration {
		t.Helper()
		tag++
		start := time.Now()
		sha := repoB.Commit(t, map[string]string{".nais/b.yaml": app("b", fmt.Sprintf("registry.example/b:%d", tag))}, fmt.Sprint("push ", tag))
		h.ctrl.Pushed(cfgB.URL, sha, "bente")
		poller.Refresh(cfgB.URL)
		for deadline := time.Now().Add(2 * fetchDelay); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			page, err := h.store.List(t.Context(), history.Filter{App: "b", Environment: "dev", Commit: sha, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Deploys) > 0 && page.Deploys[0].State.Terminal() {
				d := page.Deploys[0]
				if d.State != history.StateSuccess {
					t.Fatalf("b's push %d: %s %q", tag, d.State, d.Message)
				}
				return d.FinishedAt.Sub(start)
			}
		}
		t.Fatalf("b's push %d was never deployed", tag)
		return 0
	}
	measure := func() (p50, p99 time.Duration) {
		var ds []time.Duration
		for range pushes {
			ds = append(ds, pushB())
		}
		slices.Sort(ds)
		return ds[len(ds)/2], ds[(len(ds)*99+99)/100-1]
	}

	baseP50, baseP99 := measure()

	// Team A turns pathological: its next fetch hangs for a minute, holding its repository
	// in the cache, and resyncs keep all its apps queued; each waits for that repository.
	h.srv.SetFetchDelay(h.repo.Name, fetchDelay)
	hangStart := time.Now()
	h.repo.Commit(t, filesA("2"), "team a, behind a slow server")
	poller.Refresh(repoA.URL)
	for deadline := time.Now().Add(30 * time.Second); h.srv.Delaying() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("team a's fetch never started hanging")
		}
	}
	h.ctrl.ResyncAll()
	// A worker holds one of team A's keys, stuck behind the fetch.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.ctrl.queue.mu.Lock()
		tq := h.ctrl.queue.teams[teamA]
		held := tq != nil && tq.running > 0
		h.ctrl.queue.mu.Unlock()
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker took team a's keys")
		}
	}
	stopResync := make(chan struct{})
	resyncDone := make(chan struct{})
	go func() {
		defer close(resyncDone)
		for {
			select {
			case <-stopResync:
				return
			case <-time.After(time.Second):
				h.ctrl.ResyncAll()
			}
		}
	}()
	p50, p99 := measure()
	close(stopResync)
	<-resyncDone
	hanging := h.srv.Delaying() > 0
	t.Logf("team b push → deployed over %d pushes: baseline p50 %s p99 %s; with team a pathological p50 %s p99 %s; ratio p50 %.2f p99 %.2f",
		pushes, baseP50, baseP99, p50, p99, float64(p50)/float64(baseP50), float64(p99)/float64(baseP99))
	if !hanging {
		t.Fatalf("team a's fetch ended (after %s) before team b's %d pushes were deployed", time.Since(hangStart), pushes)
	}
	ds := h.deploys("stuck", "dev")
	if len(ds) == 0 || ds[0].State != history.StateInProgress {
		t.Errorf("team a's stuck rollout is not still waiting: %+v", ds)
	}
}
