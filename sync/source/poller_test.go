package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// fakeClock is a manual clock. Waiters fire when Advance reaches them; waitFor lets a test
// wait until the poller is asleep until a given time, so advancing never races it.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	c := &fakeClock{now: now}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.cond.Broadcast()
	return ch
}

// waitFor blocks until someone waits for time at.
func (c *fakeClock) waitFor(t *testing.T, at time.Time) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, w := range c.waiters {
			if w.at.Equal(at) {
				return
			}
		}
		c.cond.Wait()
	}
}

// advanceTo moves the clock to at and fires every waiter due by then.
func (c *fakeClock) advanceTo(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(at) {
			kept = append(kept, w)
			continue
		}
		w.ch <- at
	}
	c.waiters = kept
}

// countingSyncer wraps a real Cache, counting syncs per URL and the most at once.
type countingSyncer struct {
	*Cache
	gate     chan struct{} // when set, each sync waits for a token
	entered  chan string
	inFlight atomic.Int32
	maxSeen  atomic.Int32

	mu    sync.Mutex
	calls map[string]int
}

func newCountingSyncer(c *Cache) *countingSyncer {
	return &countingSyncer{Cache: c, entered: make(chan string, 1000), calls: map[string]int{}}
}

func (s *countingSyncer) Sync(ctx context.Context, repo environments.Repository) (Revision, bool, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	s.mu.Lock()
	s.calls[repo.URL]++
	s.mu.Unlock()
	s.entered <- repo.URL
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return Revision{}, false, ctx.Err()
		}
	}
	return s.Cache.Sync(ctx, repo)
}

func (s *countingSyncer) count(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[url]
}

// next receives from ch, failing the test at once if a sync error arrives first (a poller
// test that waited for an event that a failure prevented would otherwise hang).
func next[T any](t *testing.T, ch <-chan T, errs <-chan error) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case err := <-errs:
		t.Fatalf("unexpected sync error: %v", err)
		panic("unreachable")
	}
}

type changeEvent struct {
	url    string
	commit string
}

// startPoller runs p until the test ends and checks that Run returns.
func startPoller(t *testing.T, p *Poller) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestPollerBoundsConcurrency(t *testing.T) {
	srv := gittest.NewServer(t)
	var repos []environments.Repository
	heads := map[string]string{}
	for i := range 10 {
		r := srv.NewRepo(fmt.Sprintf("team/app-%d", i))
		heads[r.URL()] = r.Commit(t, map[string]string{"app.yaml": fmt.Sprint(i)}, "v1")
		repos = append(repos, environments.Repository{URL: r.URL()})
	}
	cache, _ := newTestCache(t)
	s := newCountingSyncer(cache)
	s.gate = make(chan struct{})
	changes := make(chan changeEvent, 100)
	errs := make(chan error, 100)
	clock := newFakeClock(gittest.Epoch)
	p := NewPoller(s, func() []environments.Repository { return repos },
		PollerOptions{Concurrency: 3, Now: clock.Now, After: clock.After},
		func(_ context.Context, repo environments.Repository, rev Revision) {
			changes <- changeEvent{repo.URL, rev.Commit}
		},
		func(_ environments.Repository, err error) { errs <- err })
	startPoller(t, p)

	// Let the syncs through one at a time; at no moment may more than 3 run.
	for range 3 {
		<-s.entered
	}
	got := map[string]string{}
	for range 10 {
		s.gate <- struct{}{}
		ev := next(t, changes, errs)
		got[ev.url] = ev.commit
		if n := s.inFlight.Load(); n > 3 {
			t.Fatalf("%d syncs in flight, want at most 3", n)
		}
	}
	if diff := cmp.Diff(heads, got); diff != "" {
		t.Errorf("reported heads (-want +got):\n%s", diff)
	}
	if got := s.maxSeen.Load(); got != 3 {
		t.Errorf("most syncs at once = %d, want 3", got)
	}
}

func TestPollerBacksOffFailingRepository(t *testing.T) {
	srv := gittest.NewServer(t)
	var repos []environments.Repository
	for i := range 3 {
		r := srv.NewRepo(fmt.Sprintf("app-%d", i))
		r.Commit(t, map[string]string{"app.yaml": "x"}, "v1")
		repos = append(repos, environments.Repository{URL: r.URL()})
	}
	brokenURL := srv.URL + "/broken"
	repos = append(repos, environments.Repository{URL: brokenURL})

	reg := prometheus.NewPedanticRegistry()
	metrics := NewMetrics(reg)
	s := newCountingSyncer(NewCache(t.TempDir(), Options{Metrics: metrics}))
	changes := make(chan changeEvent, 100)
	errs := make(chan *PollError, 100)
	otherErrs := make(chan error, 100)
	t0 := gittest.Epoch
	clock := newFakeClock(t0)
	p := NewPoller(s, func() []environments.Repository { return repos },
		PollerOptions{
			Interval: 10 * time.Minute, MinBackoff: 5 * time.Second, MaxBackoff: 20 * time.Second,
			Now: clock.Now, After: clock.After, Rand: rand.New(rand.NewPCG(1, 2)), Metrics: metrics,
		},
		func(_ context.Context, repo environments.Repository, rev Revision) {
			changes <- changeEvent{repo.URL, rev.Commit}
		},
		func(repo environments.Repository, err error) {
			if repo.URL != brokenURL {
				otherErrs <- err
				return
			}
			var pe *PollError
			if !errors.As(err, &pe) {
				t.Errorf("onError got %T, want *PollError", err)
				return
			}
			errs <- pe
		})
	startPoller(t, p)

	for range 3 {
		if ev := next(t, changes, otherErrs); ev.url == brokenURL {
			t.Fatalf("change reported for the broken repository")
		}
	}

	// Each failure doubles the wait, capped at MaxBackoff; the healthy repositories are not
	// polled again meanwhile.
	at := t0
	for i, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second} {
		pe := <-errs
		if pe.Failures != i+1 || pe.RetryIn != want || !errors.Is(pe, ErrRepositoryNotFound) {
			t.Fatalf("failure %d: %+v, want failures %d, retry in %s, ErrRepositoryNotFound", i+1, pe, i+1, want)
		}
		at = at.Add(want)
		if i == 3 {
			// The repository appears; its next retry succeeds.
			r := srv.NewRepo("broken")
			r.Commit(t, map[string]string{"app.yaml": "fixed"}, "v1")
		}
		clock.waitFor(t, at)
		if got := metricValue(t, reg, "flyt_git_repositories_failing", ""); got != 1 {
			t.Errorf("flyt_git_repositories_failing = %v, want 1", got)
		}
		clock.advanceTo(at)
	}
	if ev := next(t, changes, otherErrs); ev.url != brokenURL {
		t.Fatalf("after the repository appeared, change for %s, want %s", ev.url, brokenURL)
	}
	if got := s.count(brokenURL); got != 5 {
		t.Errorf("broken repository synced %d times, want 5", got)
	}
	for _, r := range repos[:3] {
		if got := s.count(r.URL); got != 1 {
			t.Errorf("%s synced %d times during the backoff, want 1", r.URL, got)
		}
	}

	// After the interval (±10 %) everything is polled again, unchanged: no new changes.
	clock.advanceTo(at.Add(12 * time.Minute))
	for range 3 + 5 {
		<-s.entered // drain the entries of the syncs so far: 3 healthy, 5 of the broken one
	}
	seen := map[string]bool{}
	now := at.Add(12 * time.Minute)
	for len(seen) < 4 {
		select {
		case u := <-s.entered:
			seen[u] = true
		case <-time.After(200 * time.Millisecond):
			// The poller reads the clock, then asks for a timer: when the advance above fell
			// between the two, its timer is set from the older time and fires later. Step the
			// clock on until it does.
			if now = now.Add(30 * time.Second); now.After(at.Add(25 * time.Minute)) {
				t.Fatalf("only %v polled within 25 minutes", seen)
			}
			clock.advanceTo(now)
		}
	}
	select {
	case ev := <-changes:
		t.Errorf("unchanged poll reported a change for %s", ev.url)
	default:
	}
}

func TestPollerRefresh(t *testing.T) {
	srv := gittest.NewServer(t)
	a := srv.NewRepo("team/a")
	a.Commit(t, map[string]string{"app.yaml": "1"}, "v1")
	b := srv.NewRepo("team/b")
	b.Commit(t, map[string]string{"app.yaml": "1"}, "v1")
	repos := []environments.Repository{{URL: a.URL()}, {URL: b.URL()}}
	cache, _ := newTestCache(t)
	s := newCountingSyncer(cache)
	s.gate = make(chan struct{})
	changes := make(chan changeEvent, 100)
	errs := make(chan error, 100)
	clock := newFakeClock(gittest.Epoch)
	p := NewPoller(s, func() []environments.Repository { return repos },
		PollerOptions{Now: clock.Now, After: clock.After},
		func(_ context.Context, repo environments.Repository, rev Revision) {
			changes <- changeEvent{repo.URL, rev.Commit}
		},
		func(_ environments.Repository, err error) { errs <- err })
	startPoller(t, p)
	for range 2 {
		<-s.entered
		s.gate <- struct{}{}
		next(t, changes, errs)
	}

	// A push, then a webhook: synced at once, without the clock moving.
	head := a.Commit(t, map[string]string{"app.yaml": "2"}, "v2")
	p.Refresh(a.URL() + ".git") // the webhook's spelling
	if got := <-s.entered; got != a.URL() {
		t.Fatalf("refresh of a synced %s", got)
	}
	// More webhooks while that sync runs are coalesced into one more sync.
	for range 5 {
		p.Refresh(a.URL())
	}
	s.gate <- struct{}{}
	if ev := next(t, changes, errs); ev != (changeEvent{a.URL(), head}) {
		t.Fatalf("after refresh: %+v, want %s at %s", ev, a.URL(), head)
	}
	if got := <-s.entered; got != a.URL() {
		t.Fatalf("coalesced refresh synced %s, want %s", got, a.URL())
	}
	s.gate <- struct{}{}

	p.Refresh("https://elsewhere.example/unknown.git") // unknown repositories are ignored
	p.Refresh(b.URL())
	if got := <-s.entered; got != b.URL() {
		t.Fatalf("refresh of b synced %s", got)
	}
	if got := s.count(a.URL()); got != 3 {
		t.Errorf("a synced %d times for 1 poll, 1 refresh and 5 coalesced ones, want 3", got)
	}
	s.gate <- struct{}{}
	select {
	case ev := <-changes:
		t.Errorf("unexpected change %+v", ev)
	default:
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {6, 160 * time.Second},
		{7, 5 * time.Minute}, {100, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := backoff(tt.n, 5*time.Second, 5*time.Minute); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		r    float64
		want time.Duration
	}{{0, 54 * time.Second}, {0.5, time.Minute}, {0.999999999, 66 * time.Second}}
	for _, tt := range tests {
		if got := jitter(time.Minute, 0.1, tt.r).Round(time.Second); got != tt.want {
			t.Errorf("jitter(1m, 10%%, %v) = %s, want %s", tt.r, got, tt.want)
		}
	}
}

// Run returns once its context ends, and only after the syncs in flight have finished.
func TestPollerRunWaitsForInFlightSyncs(t *testing.T) {
	srv := gittest.NewServer(t)
	r := srv.NewRepo("apps")
	r.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	cache, _ := newTestCache(t)
	s := newCountingSyncer(cache)
	s.gate = make(chan struct{}) // never opened: the sync ends only by cancellation
	errs := make(chan error, 10)
	clock := newFakeClock(gittest.Epoch)
	p := NewPoller(s, func() []environments.Repository { return []environments.Repository{{URL: r.URL()}} },
		PollerOptions{Now: clock.Now, After: clock.After}, nil,
		func(_ environments.Repository, err error) { errs <- err })

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	<-s.entered
	cancel()
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := s.inFlight.Load(); n != 0 {
		t.Errorf("Run returned with %d syncs in flight", n)
	}
	select {
	case err := <-errs:
		t.Errorf("a sync cancelled by shutdown was reported as a failure: %v", err)
	default:
	}
}

// hangingSyncer is a real Cache whose syncs of the repositories of one Git server path prefix
// hang until their context ends, as a team's unreachable or overloaded Git server does.
type hangingSyncer struct {
	*Cache
	prefix string
	hung   atomic.Int32 // syncs hanging now
	most   atomic.Int32
}

func (s *hangingSyncer) Sync(ctx context.Context, repo environments.Repository) (Revision, bool, error) {
	if !strings.Contains(repo.URL, s.prefix) {
		return s.Cache.Sync(ctx, repo)
	}
	n := s.hung.Add(1)
	defer s.hung.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	<-ctx.Done()
	return Revision{}, false, ctx.Err()
}

// TestPollerSharesSlotsBetweenTeams: a team whose four repositories hang holds at most its
// share of the sync slots, and another team's repositories sync meanwhile.
func TestPollerSharesSlotsBetweenTeams(t *testing.T) {
	srv := gittest.NewServer(t)
	var repos []environments.Repository
	owner := map[string]string{}
	for i := range 4 {
		r := srv.NewRepo(fmt.Sprintf("hang/app-%d", i)) // sorts first: its syncs start first
		r.Commit(t, map[string]string{"app.yaml": "x"}, "v1")
		repos = append(repos, environments.Repository{URL: r.URL()})
		owner[r.URL()] = "slow"
	}
	fast := map[string]string{}
	for i := range 3 {
		r := srv.NewRepo(fmt.Sprintf("team/app-%d", i))
		fast[r.URL()] = r.Commit(t, map[string]string{"app.yaml": "y"}, "v1")
		repos = append(repos, environments.Repository{URL: r.URL()})
		owner[r.URL()] = "fast"
	}
	cache, _ := newTestCache(t)
	s := &hangingSyncer{Cache: cache, prefix: "/hang/"}
	changes := make(chan changeEvent, 100)
	errs := make(chan error, 100)
	p := NewPoller(s, func() []environments.Repository { return repos },
		PollerOptions{Concurrency: 4, Timeout: time.Hour, Team: func(r environments.Repository) string { return owner[r.URL] }},
		func(_ context.Context, repo environments.Repository, rev Revision) {
			changes <- changeEvent{repo.URL, rev.Commit}
		},
		func(_ environments.Repository, err error) { errs <- err })
	startPoller(t, p)

	got := map[string]string{}
	deadline := time.After(30 * time.Second) // without the share, the fast team never syncs
	for len(got) < len(fast) {
		select {
		case ev := <-changes:
			got[ev.url] = ev.commit
		case err := <-errs:
			t.Fatalf("unexpected sync error: %v", err)
		case <-deadline:
			t.Fatalf("the fast team's repositories did not sync while the slow team's hang (%d hanging; synced: %v)", s.hung.Load(), got)
		}
	}
	if diff := cmp.Diff(fast, got); diff != "" {
		t.Errorf("the fast team's heads (-want +got):\n%s", diff)
	}
	if n := s.hung.Load(); n != 2 {
		t.Errorf("%d of the slow team's syncs hang, want 2 (its share of 4 slots)", n)
	}
	if n := s.most.Load(); n > 2 {
		t.Errorf("the slow team held %d slots at once, want at most 2", n)
	}
}
