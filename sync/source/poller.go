package source

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/repourl"
)

// Syncer is what a Poller drives; *Cache is the real one.
type Syncer interface {
	Sync(ctx context.Context, repo environments.Repository) (Revision, bool, error)
}

var _ Syncer = (*Cache)(nil)

// PollerOptions configure a Poller. The zero value gives the defaults.
type PollerOptions struct {
	// Interval between two polls of a healthy repository. Default 1m (platform.yaml
	// server.pollInterval).
	Interval time.Duration
	// Jitter spreads each interval by ±Jitter (a fraction), so that repositories added at
	// the same moment do not poll in lockstep. Default 0.1; negative disables it.
	Jitter float64
	// Concurrency bounds how many repositories sync at once, so a thousand repositories do
	// not open a thousand connections to one Git host. Default 4.
	Concurrency int
	// Team, when set, says which team owns a repository; one team's syncs then hold at most
	// TeamConcurrency of the Concurrency slots, so that a team whose Git server hangs (every
	// sync waits up to Timeout) leaves slots for every other team's pushes.
	Team func(environments.Repository) string
	// TeamConcurrency is how many slots one team's syncs may hold. Default max(1,
	// Concurrency/2).
	TeamConcurrency int
	// MinBackoff and MaxBackoff bound the wait after a failed sync: it doubles with each
	// consecutive failure of a repository, from MinBackoff (default 5s) to MaxBackoff (default
	// 5m), so a broken repository neither hammers its server nor waits for ever.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one sync. Default 2m.
	Timeout time.Duration
	// Metrics, when set, records how many repositories are backing off.
	Metrics *Metrics
	// Now and After are the clock; tests inject a fake one. Default time.Now and time.After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Rand draws the jitter. Default: the math/rand/v2 global source. Used from one goroutine.
	Rand *rand.Rand
}

func (o PollerOptions) withDefaults() PollerOptions {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.TeamConcurrency <= 0 {
		o.TeamConcurrency = max(1, o.Concurrency/2)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Minute, o.MinBackoff)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return o
}

// PollError is what a Poller reports for a failed sync: the error (errors.Is and errors.As
// see through it), how many syncs of the repository failed in a row and when it is tried
// again.
type PollError struct {
	// Repository is the repository's URL without user info.
	Repository string
	// Failures counts consecutive failed syncs, this one included.
	Failures int
	// RetryIn is the backoff before the next attempt (a Refresh retries earlier).
	RetryIn time.Duration
	// Err is the sync's error.
	Err error
}

func (e *PollError) Error() string {
	return fmt.Sprintf("poll %s (failure %d, retry in %s): %v", e.Repository, e.Failures, e.RetryIn, e.Err)
}

// Unwrap returns the sync's error.
func (e *PollError) Unwrap() error { return e.Err }

// Poller keeps every watched repository's cache current: each repository is synced on a
// jittered interval and at once on Refresh (a webhook), with at most Concurrency syncs at a
// time, and failing repositories are retried with exponential backoff without holding up the
// others.
//
// onChange is called with a repository's head the first time it is synced successfully and
// whenever the head moves afterwards; onError with a *PollError whenever a sync fails. Both
// are called from the sync's goroutine, several at once, and should only enqueue work.
type Poller struct {
	syncer   Syncer
	repos    func() []environments.Repository
	opts     PollerOptions
	onChange func(ctx context.Context, repo environments.Repository, rev Revision)
	onError  func(repo environments.Repository, err error)

	wake chan struct{}

	// Guards the fields below.
	mu      sync.Mutex
	pending map[string]bool // normalised URLs asked for by Refresh
}

// NewPoller returns a poller over the repositories repos returns (called at every round, so
// platform config reloads take effect). onChange and onError may be nil.
func NewPoller(s Syncer, repos func() []environments.Repository, opts PollerOptions,
	onChange func(ctx context.Context, repo environments.Repository, rev Revision),
	onError func(repo environments.Repository, err error),
) *Poller {
	if onChange == nil {
		onChange = func(context.Context, environments.Repository, Revision) {}
	}
	if onError == nil {
		onError = func(environments.Repository, error) {}
	}
	return &Poller{
		syncer:   s,
		repos:    repos,
		opts:     opts.withDefaults(),
		onChange: onChange,
		onError:  onError,
		wake:     make(chan struct{}, 1),
		pending:  map[string]bool{},
	}
}

// Refresh asks for an immediate sync of every watched repository with this URL (any spelling
// of the same repourl.Key: with or without ".git", https or scp-like SSH, any case). It never
// blocks; refreshes that arrive while one is pending or running are coalesced into one more
// sync.
func (p *Poller) Refresh(repoURL string) {
	p.mu.Lock()
	p.pending[repourl.Normalize(repoURL)] = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pollState is the poller's view of one repository. Only Run's goroutine touches it.
type pollState struct {
	repo       environments.Repository
	key        string // repourl.Normalize of the URL
	due        time.Time
	failures   int
	inFlight   bool
	refresh    bool
	lastCommit string
	team       string // the owner, when PollerOptions.Team is set
}

// pollResult is what a finished sync reports back to Run.
type pollResult struct {
	repo   environments.Repository
	team   string
	due    time.Time
	failed bool
	commit string
}

// Run polls until ctx ends, then waits for in-flight syncs to finish (they see ctx's
// cancellation) and returns nil.
func (p *Poller) Run(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx)
	l := &pollLoop{
		p:           p,
		states:      map[environments.Repository]*pollState{},
		done:        make(chan pollResult),
		teamRunning: map[string]int{},
	}
	var wg sync.WaitGroup
	defer wg.Wait()

	for {
		now := p.opts.Now()
		l.follow(now)
		l.markRefreshed()
		l.launch(ctx, now, &wg)

		// Sleep until the next repository is due. Ready ones still waiting for a slot are
		// started when a sync finishes and wakes us through done.
		var timer <-chan time.Time
		if next := l.nextDue(now); !next.IsZero() {
			timer = p.opts.After(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			log.V(1).Info("poller stopping", "inFlight", l.running)
			return nil
		case <-p.wake:
		case <-timer:
		case res := <-l.done:
			l.finish(res)
		}
	}
}

// pollLoop is the state of Run's loop; only Run's goroutine touches it.
type pollLoop struct {
	p           *Poller
	states      map[environments.Repository]*pollState
	done        chan pollResult
	running     int            // syncs in flight
	teamRunning map[string]int // syncs in flight by team, when PollerOptions.Team is set
}

// follow keeps one state per configured repository: new ones are due now, removed ones go.
func (l *pollLoop) follow(now time.Time) {
	current := map[environments.Repository]bool{}
	for _, r := range l.p.repos() {
		r = withDefaults(r)
		current[r] = true
		if l.states[r] == nil {
			l.states[r] = &pollState{repo: r, key: repourl.Normalize(r.URL), due: now}
		}
		if l.p.opts.Team != nil {
			l.states[r].team = l.p.opts.Team(r)
		}
	}
	for r := range l.states {
		if !current[r] {
			delete(l.states, r)
		}
	}
}

// markRefreshed marks the repositories Refresh named since the last pass.
func (l *pollLoop) markRefreshed() {
	l.p.mu.Lock()
	pending := l.p.pending
	l.p.pending = map[string]bool{}
	l.p.mu.Unlock()
	for _, st := range l.states {
		if pending[st.key] {
			st.refresh = true
		}
	}
}

// launch starts what is due, refreshes and the longest-waiting first, within the slots and
// each team's share of them.
func (l *pollLoop) launch(ctx context.Context, now time.Time, wg *sync.WaitGroup) {
	var ready []*pollState
	failing := 0
	for _, st := range l.states {
		if st.failures > 0 {
			failing++
		}
		if !st.inFlight && (st.refresh || !st.due.After(now)) {
			ready = append(ready, st)
		}
	}
	l.p.opts.Metrics.setFailing(failing)
	slices.SortFunc(ready, func(a, b *pollState) int {
		if a.refresh != b.refresh {
			if a.refresh {
				return -1
			}
			return 1
		}
		return cmp.Or(a.due.Compare(b.due), strings.Compare(a.repo.URL, b.repo.URL), strings.Compare(a.repo.Branch, b.repo.Branch), strings.Compare(a.repo.Path, b.repo.Path))
	})
	for _, st := range ready {
		if l.running >= l.p.opts.Concurrency {
			break
		}
		if l.p.opts.Team != nil && l.teamRunning[st.team] >= l.p.opts.TeamConcurrency {
			continue // the team holds its share; another team's repository may go
		}
		st.inFlight, st.refresh = true, false
		l.running++
		l.teamRunning[st.team]++
		wg.Add(1)
		go l.p.poll(ctx, wg, l.done, *st)
	}
}

// nextDue is when the next repository not in flight is due, or zero when none is waiting.
func (l *pollLoop) nextDue(now time.Time) time.Time {
	var next time.Time
	for _, st := range l.states {
		if !st.inFlight && st.due.After(now) && (next.IsZero() || st.due.Before(next)) {
			next = st.due
		}
	}
	return next
}

// finish takes back a sync's slot and records its outcome.
func (l *pollLoop) finish(res pollResult) {
	l.running--
	if l.teamRunning[res.team]--; l.teamRunning[res.team] <= 0 {
		delete(l.teamRunning, res.team)
	}
	st := l.states[res.repo]
	if st == nil {
		return // removed from the config meanwhile
	}
	st.inFlight, st.due = false, res.due
	if res.failed {
		st.failures++
	} else {
		st.failures, st.lastCommit = 0, res.commit
	}
}

// poll syncs one repository, reports the outcome to the callbacks and then to Run.
func (p *Poller) poll(ctx context.Context, wg *sync.WaitGroup, done chan<- pollResult, st pollState) {
	defer wg.Done()
	sctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	rev, err := p.sync(sctx, st.repo)
	cancel()
	finished := p.opts.Now()

	res := pollResult{repo: st.repo, team: st.team}
	switch {
	case ctx.Err() != nil:
		// Shutting down: not a failure of the repository.
		res.due, res.failed, res.commit = finished, err != nil, st.lastCommit
	case err != nil:
		failures := st.failures + 1
		wait := backoff(failures, p.opts.MinBackoff, p.opts.MaxBackoff)
		res.due, res.failed = finished.Add(wait), true
		p.onError(st.repo, &PollError{Repository: redactURL(st.repo.URL), Failures: failures, RetryIn: wait, Err: err})
	default:
		res.due, res.commit = finished.Add(p.jittered()), rev.Commit
		if rev.Commit != st.lastCommit {
			p.onChange(ctx, st.repo, rev)
		}
	}
	select {
	case done <- res:
	case <-ctx.Done():
	}
}

// sync runs one sync; a panic in it (a Git library meeting what a hostile server sent) is
// that repository's failed sync, logged with its stack, not the end of the process.
func (p *Poller) sync(ctx context.Context, repo environments.Repository) (rev Revision, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sync panicked: %v", v)
			logr.FromContextOrDiscard(ctx).Error(err, "recovered from a panic in a repository sync",
				"repository", redactURL(repo.URL), "stack", string(debug.Stack()))
		}
	}()
	rev, _, err = p.syncer.Sync(ctx, repo)
	return rev, err
}

// jittered is the interval spread by ±Jitter. Called from poll goroutines, so it locks.
func (p *Poller) jittered() time.Duration {
	if p.opts.Jitter == 0 {
		return p.opts.Interval
	}
	var r float64
	if p.opts.Rand != nil {
		p.mu.Lock()
		r = p.opts.Rand.Float64()
		p.mu.Unlock()
	} else {
		r = rand.Float64()
	}
	return jitter(p.opts.Interval, p.opts.Jitter, r)
}

// jitter spreads d by ±frac, r in [0, 1) choosing where.
func jitter(d time.Duration, frac, r float64) time.Duration {
	return time.Duration(float64(d) * (1 + frac*(2*r-1)))
}

// backoff is the wait after the n-th consecutive failure: lo, 2lo, 4lo … capped at hi.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
