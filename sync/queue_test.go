package sync

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
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

// TestAPIServerDownIsAnErrorThenRecovers: the API server becomes unreachable in the middle of
// a deploy, just as flyt sends its first write. The deploy ends as an error that names the
// connection problem (not a failure, not left in progress), nothing is deleted or half-written
// in the cluster, and once the API server is back the retry brings the revision to success.
func TestAPIServerDownIsAnErrorThenRecovers(t *testing.T) {
	// flyt reaches this environment's API server through a proxy the test can cut, as a
	// network partition or a stopped API server would. A hook on flyt's requests cuts it at
	// the deploy's first write (an apply that is not a dry-run): the deploy has recorded its
	// apply step, read and dry-run every object, and has written nothing yet.
	proxy := newTCPProxy(t, plane.RESTConfig().Host)
	h := newHarness(t)
	var (
		hookMu gosync.Mutex
		armed  bool
		cut    = make(chan struct{})
	)
	cfg := plane.RESTConfig()
	cfg.Host = "https://" + proxy.addr
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && !r.URL.Query().Has("dryRun") {
				// Every write passes here one at a time while armed, so none slips through
				// on an old connection while the proxy is being cut.
				hookMu.Lock()
				if armed {
					armed = false
					proxy.down()
					close(cut)
				}
				hookMu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	cluster, err := NewCluster("dev", "behind-proxy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h.cluster = cluster // before the first push: the controller has not read it yet

	configMap := func(name, value string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: \"" + value + "\"\n"
	}
	sha1 := h.push(map[string]string{".nais/app.yaml": app("resilient", "registry.example/resilient:1") +
		configMap("resilient-config", "1") + configMap("resilient-old", "1")}, "v1")
	if d := h.waitDeploy("resilient", "dev", sha1); d.State != history.StateSuccess {
		t.Fatalf("first deploy %s: %s", d.State, d.Message)
	}
	h.idle()
	// What v1 left in the cluster, read past the proxy.
	type liveObj struct {
		uid types.UID
		rv  string
	}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: h.devNS, Name: name} }
	snapshot := func() map[string]liveObj {
		out := map[string]liveObj{}
		for name, o := range map[string]client.Object{
			"Deployment/resilient": &appsv1.Deployment{}, "Service/resilient": &corev1.Service{},
			"ServiceAccount/resilient":   &corev1.ServiceAccount{},
			"ConfigMap/resilient-config": &corev1.ConfigMap{}, "ConfigMap/resilient-old": &corev1.ConfigMap{},
		} {
			_, n, _ := strings.Cut(name, "/")
			if err := plane.Client().Get(t.Context(), key(n), o); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = liveObj{uid: o.GetUID(), rv: o.GetResourceVersion()}
		}
		return out
	}
	before := snapshot()

	// v2 changes the image and a ConfigMap and drops another ConfigMap, which a successful
	// deploy prunes.
	hookMu.Lock()
	armed = true
	hookMu.Unlock()
	sha2 := h.push(map[string]string{".nais/app.yaml": app("resilient", "registry.example/resilient:2") +
		configMap("resilient-config", "2")}, "v2 while the API server goes away")
	select {
	case <-cut:
	case <-time.After(time.Minute):
		t.Fatal("the v2 deploy never sent a write")
	}
	// The deploy that was cut off ends as an error at its apply step.
	var failed *history.DeployDetail
	for deadline := time.Now().Add(time.Minute); failed == nil; time.Sleep(50 * time.Millisecond) {
		for _, d := range h.deploys("resilient", "dev") {
			if d.Commit == sha2 && d.State.Terminal() {
				dd, err := h.store.Get(t.Context(), d.ID)
				if err != nil {
					t.Fatal(err)
				}
				failed = dd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deploy cut off mid-apply never ended: %+v", h.deploys("resilient", "dev"))
		}
	}
	if failed.State != history.StateError {
		t.Fatalf("deploy cut off mid-apply ended %s (%q), want error", failed.State, failed.Message)
	}
	steps := make([]string, len(failed.Statuses))
	for i, s := range failed.Statuses {
		steps[i] = s.Step
	}
	if !slices.Contains(steps[:len(steps)-1], "apply") || steps[len(steps)-1] != "apply" {
		t.Errorf("steps of the cut-off deploy = %v, want it to have started applying and to end at apply", steps)
	}
	if !strings.Contains(failed.Message, proxy.addr) || !containsAny(failed.Message, "connection refused", "connection reset", "EOF", "connection lost", "broken pipe", "use of closed network connection") {
		t.Errorf("message %q does not name the API server's address and the connection problem", failed.Message)
	}
	// Objects v2 leaves as v1 had them are recorded unchanged (they need no write); none may
	// be recorded as written or pruned.
	for _, o := range failed.Objects {
		if o.Action != "unchanged" {
			t.Errorf("the cut-off deploy recorded %s/%s as %s", o.Kind, o.Name, o.Action)
		}
	}
	// Nothing was deleted, recreated or written: every object is v1's, as it was.
	for name, was := range snapshot() {
		if was.uid != before[name].uid || was.rv != before[name].rv {
			t.Errorf("%s changed while the API server was unreachable (uid %s → %s, resourceVersion %s → %s)",
				name, before[name].uid, was.uid, before[name].rv, was.rv)
		}
	}

	proxy.up()
	// The key is retried with backoff until it succeeds; every attempt before is an error.
	var ds []history.Deploy
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ds = h.deploys("resilient", "dev")
		if ds[0].Commit == sha2 && ds[0].State == history.StateSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never recovered: %+v", ds)
		}
	}
	for _, d := range ds[1:] {
		if d.Commit == sha2 && d.State != history.StateError {
			t.Errorf("attempt %d of v2 ended %s (%q) while the API server was unreachable, want error", d.ID, d.State, d.Message)
		}
	}
	ok, err := h.store.Get(t.Context(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if acts := objectActions(ok); acts["Deployment/resilient"] != history.ActionConfigured || acts["ConfigMap/resilient-config"] != history.ActionConfigured || acts["ConfigMap/resilient-old"] != history.ActionDeleted {
		t.Errorf("actions of the recovered deploy = %v, want the Deployment and config configured and resilient-old pruned", acts)
	}
	var dep appsv1.Deployment
	if err := plane.Client().Get(t.Context(), key("resilient"), &dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example/resilient:2" {
		t.Errorf("image after recovery = %s, want v2's", img)
	}
	if err := plane.Client().Get(t.Context(), key("resilient-old"), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("resilient-old after the successful v2 deploy: err %v, want it pruned", err)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
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
		h.ctrl.Pushed(repo.URL, last, "alice")
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
