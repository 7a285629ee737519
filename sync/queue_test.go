package sync

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/gittest"
	"github.com/flyt-platform/flyt/sync/source"
)

func TestDenyWindowHoldsPushAndReleasesIt(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	// The clock stands still two seconds before the window ends, so the push is surely held;
	// then the test moves it past the end and the hold releases itself through the queue's
	// own timer.
	windowEnd := time.Date(2026, 11, 23, 11, 0, 0, 0, oslo)
	h := newHarness(t, func(p *environments.Platform) {
		p.Environments[0].Windows = []environments.Window{{Action: "deny", Days: []string{"Mon"}, Start: "09:00", End: "11:00", TimeZone: "Europe/Oslo"}}
	})
	h.setClock(func() time.Time { return windowEnd.Add(-2 * time.Second) })

	sha := h.push(map[string]string{".nais/app.yaml": app("windowed", "registry.example/windowed:1")}, "during the freeze")
	deadline := time.Now().Add(30 * time.Second)
	var held []Held
	for time.Now().Before(deadline) && len(held) == 0 {
		held = h.ctrl.Held()
		time.Sleep(20 * time.Millisecond)
	}
	if len(held) != 1 || held[0].Commit != sha || !held[0].Until.Equal(windowEnd) {
		t.Fatalf("held = %+v, want the push held until %s", held, windowEnd)
	}
	time.Sleep(4 * time.Second) // the hold's timer fires once while the window is still closed
	if n := len(h.deploys("windowed", "dev")); n != 0 {
		t.Fatalf("%d deploys ran inside the deny window", n)
	}
	if len(h.ctrl.Held()) != 1 {
		t.Fatal("the hold was dropped while the window was still closed")
	}
	h.setClock(func() time.Time { return windowEnd.Add(time.Second) })
	d := h.waitDeploy("windowed", "dev", sha)
	if d.State != history.StateSuccess || d.StartedAt.Before(windowEnd) {
		t.Errorf("released deploy %s started %s; want success after %s", d.State, d.StartedAt, windowEnd)
	}
	if held := h.ctrl.Held(); len(held) != 0 {
		t.Errorf("still held after release: %+v", held)
	}
}

// TestFreezeHoldsUntilUnfreeze freezes an environment, restarts the controller (as a
// restarted flyt or a newly elected leader) and checks that the new controller still holds a
// push until an operator unfreezes it; and that a freeze the store cannot record is refused.
func TestFreezeHoldsUntilUnfreeze(t *testing.T) {
	h := newHarness(t)
	if err := h.ctrl.Freeze(t.Context(), "dev", "kari", "incident 42"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	// The new controller loads the freeze from the store as it starts, before its workers.
	got := h.ctrl.Frozen()
	for deadline := time.Now().Add(10 * time.Second); len(got) == 0 && time.Now().Before(deadline); got = h.ctrl.Frozen() {
		time.Sleep(20 * time.Millisecond)
	}
	if got["dev"] != "incident 42" || len(got) != 1 {
		t.Fatalf("after a restart Frozen() = %v, want dev frozen for incident 42", got)
	}
	sha := h.push(map[string]string{".nais/app.yaml": app("frozen", "registry.example/frozen:1")}, "while frozen")
	h.idle()
	held := h.ctrl.Held()
	if len(held) != 1 || !strings.Contains(held[0].Reason, "incident 42") {
		t.Fatalf("held = %+v, want the push held with the freeze reason", held)
	}
	if ds := h.deploys("frozen", "dev"); len(ds) != 0 {
		t.Fatalf("%d deploys ran in the frozen environment: %+v", len(ds), ds)
	}
	if err := h.ctrl.Unfreeze(t.Context(), "dev", "ola"); err != nil {
		t.Fatal(err)
	}
	if d := h.waitDeploy("frozen", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("deploy after unfreeze: %s %s", d.State, d.Message)
	}
	log, err := h.store.FreezeLog(t.Context(), "dev", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Frozen || log[0].By != "ola" || !log[1].Frozen || log[1].By != "kari" || log[1].Reason != "incident 42" {
		t.Errorf("freeze log of dev = %+v, want kari's freeze for incident 42, then ola's unfreeze", log)
	}

	// A freeze the store cannot record is an error, not a freeze held in memory only.
	h.stop()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.Freeze(t.Context(), "prod", "kari", "release"); err == nil {
		t.Error("Freeze with an unusable history store succeeded")
	}
	if got := h.ctrl.Frozen(); len(got) != 0 {
		t.Errorf("after a failed freeze Frozen() = %v, want nothing frozen", got)
	}
}

func TestAPIServerDownIsAnErrorThenRecovers(t *testing.T) {
	// flyt reaches this environment's API server through a proxy the test can cut, as a
	// network partition or a stopped API server would.
	proxy := newTCPProxy(t, plane.RESTConfig().Host)
	h := newHarness(t)
	cfg := plane.RESTConfig()
	cfg.Host = "https://" + proxy.addr
	cluster, err := NewCluster("dev", "behind-proxy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.cluster = cluster

	proxy.down()
	sha := h.push(map[string]string{".nais/app.yaml": app("resilient", "registry.example/resilient:1")}, "while the cluster is unreachable")
	deadline := time.Now().Add(time.Minute)
	var first []history.Deploy
	for time.Now().Before(deadline) {
		first = h.deploys("resilient", "dev")
		if len(first) > 0 && first[len(first)-1].State.Terminal() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(first) == 0 || first[len(first)-1].State != history.StateError {
		t.Fatalf("deploys while the API server is unreachable = %+v, want an error", first)
	}
	proxy.up()
	// The key is retried with backoff until it succeeds.
	deadline = time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ds := h.deploys("resilient", "dev")
		if len(ds) > 0 && ds[0].State == history.StateSuccess && ds[0].Commit == sha {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("never recovered: %+v", h.deploys("resilient", "dev"))
}

// tcpProxy forwards a local port to target until down is called; up listens again on the
// same port.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    gosync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newTCPProxy(t *testing.T, targetURL string) *tcpProxy {
	u, err := url.Parse(targetURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: u.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// down closes the listener and every open connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

func TestBurstOfPushesCoalesces(t *testing.T) {
	h := newHarness(t)
	const apps, pushes = 5, 50
	repo := h.platform.Teams[0].Repositories[0]
	files := func(i int) map[string]string {
		f := map[string]string{}
		for a := range apps {
			f[fmt.Sprintf(".nais/app%d.yaml", a)] = app(fmt.Sprintf("burst%d", a), fmt.Sprintf("registry.example/burst:%d", i))
		}
		return f
	}
	first := h.repo.Commit(t, files(0), "before the burst")
	// The real entry path: webhooks call the poller's Refresh, the poller syncs the
	// repository and tells the controller about a new head.
	poller := source.NewPoller(h.cache, func() []environments.Repository { return []environments.Repository{repo} },
		source.PollerOptions{Interval: time.Hour}, h.ctrl.RepositoryChanged, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = poller.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.waitDeploy("burst0", "dev", first)
	h.idle()

	// Fifty pushes land, and their fifty webhooks arrive at once.
	var last string
	for i := 1; i <= pushes; i++ {
		last = h.repo.Commit(t, files(i), fmt.Sprintf("push %d", i))
	}
	for range pushes {
		h.ctrl.Pushed(repo.URL, "alice")
		poller.Refresh(repo.URL)
	}
	for a := range apps {
		h.waitDeploy(fmt.Sprintf("burst%d", a), "dev", last)
	}
	h.idle()
	for a := range apps {
		name := fmt.Sprintf("burst%d", a)
		ds := h.deploys(name, "dev")
		if n := len(ds) - 1; n < 1 || n > 2 {
			t.Errorf("%s: %d deploys for %d pushes, want 1 or 2", name, n, pushes)
			continue
		}
		if ds[0].Commit != last || ds[0].State != history.StateSuccess || ds[0].Trigger != history.TriggerPush {
			t.Errorf("%s: newest deploy %s %s at %s, want a successful push deploy of the newest revision", name, ds[0].Trigger, ds[0].State, shortSHA(ds[0].Commit))
		}
	}
}

func TestHundredAppsAcrossTenRepositoriesConverge(t *testing.T) {
	h := newHarness(t)
	srv := gittest.NewServer(t)
	repos := []environments.Repository{h.platform.Teams[0].Repositories[0]}
	gitRepos := []*gittest.Repo{h.repo}
	for i := 1; i < 10; i++ {
		r := srv.NewRepo(fmt.Sprintf("apps%d", i))
		gitRepos = append(gitRepos, r)
		repos = append(repos, environments.Repository{URL: r.URL(), Branch: "main"})
	}
	h.platform.Teams[0].Repositories = repos
	for i, r := range gitRepos {
		files := map[string]string{}
		for a := range 10 {
			name := fmt.Sprintf("r%da%d", i, a)
			files[".nais/"+name+".yaml"] = app(name, "registry.example/"+name+":1")
		}
		r.Commit(t, files, "ten apps")
	}
	for _, repo := range repos {
		rev, _, err := h.cache.Sync(t.Context(), repo)
		if err != nil {
			t.Fatal(err)
		}
		h.ctrl.RepositoryChanged(t.Context(), repo, rev)
	}
	h.idleWithin(5 * time.Minute)
	cur, err := h.store.Current(t.Context(), history.Filter{Environment: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, c := range cur {
		if c.Latest != nil && c.Latest.State == history.StateSuccess {
			ok++
		} else if c.Latest != nil {
			t.Errorf("%s: %s %s", c.App, c.Latest.State, c.Latest.Message)
		}
	}
	if ok != 100 {
		t.Errorf("%d of 100 apps converged", ok)
	}
}
