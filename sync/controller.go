package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	"k8s.io/client-go/util/workqueue"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// Key identifies one unit of work: an app in an environment. App names are unique across the
// platform (as NAIS app names are unique in a cluster's team namespaces); a second repository
// that declares an app already owned by another is refused.
type Key struct {
	App         string
	Environment string
}

func (k Key) String() string { return k.App + "@" + k.Environment }

// request is the newest thing asked of a key. A key queued many times keeps only its newest
// request, so a burst of pushes becomes one deploy of the newest revision.
type request struct {
	commit      string
	trigger     history.Trigger
	triggeredBy string
	reason      string
	forced      bool
	// redeploy deploys even when the render equals the last success (flyt deploy).
	redeploy bool
	// remove deletes the app from the environment: its repository no longer has it.
	remove bool
	queued time.Time
}

// appInfo is what the controller knows of an app from its repository's last successful load.
type appInfo struct {
	team string
	repo environments.Repository
	// head is the newest revision of the repository's branch.
	head source.Revision
}

// Held is automatic work that waits for a deploy window, an unfreeze or an unsuspend.
type Held struct {
	Key     Key       `json:"key"`
	Commit  string    `json:"commit"`
	Trigger string    `json:"trigger"`
	Reason  string    `json:"reason"`
	Until   time.Time `json:"until,omitzero"`
}

// Options configure a Controller.
type Options struct {
	// Platform returns the current platform config; it is called for every piece of work, so
	// a reloaded config takes effect at once.
	Platform func() *environments.Platform
	Store    history.Store
	Cache    *source.Cache
	// Cluster returns the connection of an environment.
	Cluster func(env string) (*Cluster, error)
	// TeamCluster, when set, returns the connection a team's deploys use in an environment
	// (for example one impersonating the team's service account); Cluster serves otherwise.
	TeamCluster func(env string, team *environments.Team) (*Cluster, error)
	// Workers is how many keys deploy at once. Default 16 (deploys mostly wait).
	Workers int
	// TeamWorkers is how many of the workers one team's keys may hold at once, so that a team
	// whose Git server hangs or whose repository is huge slows only itself: the others' keys
	// find a free worker however many of that team's keys are queued. Teams with queued work
	// are served round-robin. Default max(1, Workers/4); Workers lifts the cap.
	TeamWorkers int
	// ResyncInterval is how often every app is checked for drift. Default 10m; negative
	// disables it.
	ResyncInterval time.Duration
	Metrics        *Metrics
	Log            logr.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// PollInterval is how often readiness is polled during a deploy's wait. Default 500ms.
	PollInterval time.Duration
	// OnDeploy, when set, is told about every state change of every deploy (for GitHub
	// deployment statuses, notifications and the event stream). It must not block.
	OnDeploy func(history.Deploy)
}

// Controller is flyt's reconcile loop: it turns repository changes, promotions, rollbacks and
// resyncs into deploys, one key at a time, through a work queue fair across teams (fairQueue).
type Controller struct {
	opts     Options
	deployer *Deployer
	queue    *fairQueue
	// active counts keys being reconciled or rolling out right now.
	active atomic.Int64
	// waiters are the rollouts waiting for readiness, outside the workers.
	waiters gosync.WaitGroup

	// freezeMu serialises recording freezes with loading them from the store, so a freeze
	// recorded while Run loads the frozen set is not overwritten by the older state.
	freezeMu gosync.Mutex

	// Guards the fields below.
	mu       gosync.Mutex
	pending  map[Key]*request
	held     map[Key]Held
	apps     map[string]*appInfo   // by app name
	repoApps map[string][]string   // by repository URL: the apps of its last good load
	frozen   map[string]string     // environment → reason: the store's freeze state, cached
	pushes   map[string][]push     // repository URL → the webhooks' pushes, until its change is seen
	inflight map[Key]*inflight     // rollouts waiting for readiness
	loaded   map[string]loadedRepo // by repository URL: its newest load
	loading  singleflight.Group    // loads in progress, by repository URL, commit and environments
	loads    atomic.Int64          // repository loads done (tests read it)

	// hook is a test seam: when set, it is called at the start of each step named ("load"
	// with the repository URL, "render" with the app's name), so a test can make that step
	// panic. Set it before the work it concerns is queued; nil in flyt.
	hook func(step, subject string)
}

// inflight is a deploy that has applied its objects and waits for readiness. A newer deploy
// of the same key supersedes it: cancels the wait (the deploy ends inactive) and waits for
// done before it applies anything.
type inflight struct {
	digest string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// NewController returns a controller; Run starts it.
func NewController(opts Options) *Controller {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TeamWorkers <= 0 {
		opts.TeamWorkers = max(1, opts.Workers/4)
	}
	c := &Controller{
		opts:     opts,
		deployer: &Deployer{Store: opts.Store, Metrics: opts.Metrics, Now: opts.Now, PollInterval: opts.PollInterval, OnDeploy: opts.OnDeploy},
		pending:  map[Key]*request{},
		held:     map[Key]Held{},
		apps:     map[string]*appInfo{},
		repoApps: map[string][]string{},
		frozen:   map[string]string{},
		pushes:   map[string][]push{},
		inflight: map[Key]*inflight{},
		loaded:   map[string]loadedRepo{},
	}
	c.queue = newFairQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[Key](750*time.Millisecond, 5*time.Minute),
		min(opts.TeamWorkers, opts.Workers), c.teamOf)
	return c
}

// teamOf is the team whose share of the workers k's work counts against.
func (c *Controller) teamOf(k Key) string {
	if a := c.appInfo(k.App); a != nil {
		return a.team
	}
	return ""
}

// Run marks deploys a dead process left unfinished as inactive, starts the workers and the
// resync loop, and blocks until ctx ends; in-flight deploys are then cut off (recorded
// inactive) before it returns. RunDraining lets them finish first.
func (c *Controller) Run(ctx context.Context) error { return c.RunDraining(ctx, ctx) }

// RunDraining is Run with a separate end for deploys: when ctx ends the controller takes no
// new work (keys still queued are dropped; a restart queues every app again), and the deploys
// in flight, applying or waiting for their rollout, go on until they finish or deploys ends.
// Those cut off by deploys' end are recorded inactive, with context.Cause(deploys) as their
// message. It returns once every deploy has ended; deploys must end for that.
func (c *Controller) RunDraining(ctx, deploys context.Context) error {
	// Freezes first: no work starts before the controller knows what an operator froze,
	// under this process or an earlier leader.
	if err := c.loadFreezes(ctx); err != nil {
		return err
	}
	if n, err := c.opts.Store.MarkInterrupted(ctx, c.opts.Now()); err != nil {
		return fmt.Errorf("mark interrupted deploys: %w", err)
	} else if n > 0 {
		c.opts.Log.Info("marked deploys left unfinished as inactive", "count", n)
	}
	var wg gosync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() {
			for c.processNext(ctx, deploys) {
			}
		})
	}
	if c.opts.ResyncInterval > 0 {
		wg.Go(func() { c.resyncLoop(ctx) })
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.waiters.Wait()
	return nil
}

func (c *Controller) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.ResyncAll()
		}
	}
}

// ResyncAll queues every known app in every environment for a drift check.
func (c *Controller) ResyncAll() {
	p := c.opts.Platform()
	c.mu.Lock()
	var keys []Key
	for app := range c.apps {
		for _, env := range p.Environments {
			keys = append(keys, Key{app, env.Name})
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.queue.Add(k)
	}
}

// push is a push a webhook announced: the commit it made the branch's head, and who pushed it.
type push struct{ commit, by string }

// maxPushes bounds the pushes remembered per repository between two changes seen.
const maxPushes = 16

// Pushed tells the controller that a webhook announced that pusher pushed commit (the push's
// "after"; empty when the caller named none) to repoURL, so the deploys the coming change
// starts are recorded with trigger push. They are credited to the pusher of the revision
// they deploy, or else to that commit's author: never to whoever sent the newest webhook,
// which may name an older commit than the head the poller then finds (see credit).
func (c *Controller) Pushed(repoURL, commit, pusher string) {
	u := normalizeURL(repoURL)
	c.mu.Lock()
	ps := append(c.pushes[u], push{commit: commit, by: pusher})
	if len(ps) > maxPushes {
		ps = slices.Clone(ps[len(ps)-maxPushes:])
	}
	c.pushes[u] = ps
	c.mu.Unlock()
}

// credit says what started the deploys of repo's new head rev and whom they are credited to:
// a push when a webhook announced one since the last change seen (the pushes are used up),
// credited to the pusher of rev itself, or else to rev's author; a poll by flyt otherwise.
func (c *Controller) credit(repo environments.Repository, rev source.Revision) (history.Trigger, string) {
	u := normalizeURL(repo.URL)
	c.mu.Lock()
	ps, ok := c.pushes[u]
	delete(c.pushes, u)
	c.mu.Unlock()
	if !ok {
		return history.TriggerPoll, "flyt"
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].commit != "" && ps[i].commit == rev.Commit && ps[i].by != "" {
			return history.TriggerPush, ps[i].by
		}
	}
	return history.TriggerPush, cmp.Or(rev.Author, rev.AuthorEmail, "flyt")
}

// RepositoryChanged is the poller's onChange: a repository's branch has a new head. It reads
// the apps of the new revision and queues each of them in every environment fed by a branch.
// An app that the repository no longer has is removed from those environments, but only when
// the repository loaded successfully (an empty or broken repository removes nothing) and the
// change does not remove more than half of the team's apps there (unless the platform allows
// it).
func (c *Controller) RepositoryChanged(ctx context.Context, repo environments.Repository, rev source.Revision) {
	log := c.opts.Log.WithValues("repository", repo.URL, "commit", rev.Commit)
	defer func() {
		// It runs on the poller's goroutine: a panic here would end the process. A panic in
		// the repository's load is an error of loadRepo already, and each app records it.
		if v := recover(); v != nil {
			caught(logr.NewContext(ctx, log), v, "repository changed", "")
		}
	}()
	p := c.opts.Platform()
	team, _ := p.TeamForRepository(repo.URL)
	if team == nil {
		log.Info("ignoring change of a repository no team owns")
		return
	}
	// The load is kept (loadRepo), so the deploys queued below render from it instead of
	// loading the repository again.
	loaded, err := c.loadRepo(ctx, repo, rev.Commit)
	var fetchErr *deployError
	if errors.As(err, &fetchErr) && fetchErr.step == "fetch" {
		log.Error(err, "read repository")
		return
	}
	if err != nil {
		// The apps cannot be known, so nothing is removed; each app's deploy records the
		// problem when it renders.
		log.Error(err, "load repository")
		trigger, by := c.credit(repo, rev)
		c.queueKnownApps(p, repo, rev, team, trigger, by)
		return
	}
	names := make([]string, 0, len(loaded.Apps))
	for _, a := range loaded.Apps {
		names = append(names, a.Name)
	}

	trigger, by := c.credit(repo, rev)
	c.mu.Lock()
	previous, known := c.repoApps[repo.URL]
	var accepted []string
	for _, name := range names {
		if a, ok := c.apps[name]; ok && a.repo.URL != repo.URL {
			log.Error(errors.New("duplicate app name"), "app is already deployed from another repository; app names are unique on the platform", "app", name, "owner", a.repo.URL)
			continue
		}
		c.apps[name] = &appInfo{team: team.Name, repo: repo, head: rev}
		accepted = append(accepted, name)
	}
	c.repoApps[repo.URL] = accepted
	c.mu.Unlock()
	if !known {
		previous = c.historyApps(ctx, repo.URL)
	}
	removed := without(previous, accepted)

	for _, env := range p.Environments {
		if env.Branch == "" {
			continue
		}
		for _, name := range accepted {
			c.enqueue(Key{name, env.Name}, &request{commit: rev.Commit, trigger: trigger, triggeredBy: by})
		}
		if len(removed) == 0 {
			continue
		}
		if !p.Server.AllowMassPrune && 2*len(removed) > c.teamAppCount(ctx, team.Name, env.Name) {
			for _, name := range removed {
				c.hold(Key{name, env.Name}, Held{Commit: rev.Commit, Trigger: string(trigger),
					Reason: fmt.Sprintf("revision %s removes %d of team %s's apps in %s; held for an operator (set server.allowMassPrune, or flyt deploy each app)", shortSHA(rev.Commit), len(removed), team.Name, env.Name)})
			}
			log.Info("holding mass removal of apps", "environment", env.Name, "apps", removed)
			continue
		}
		for _, name := range removed {
			c.enqueue(Key{name, env.Name}, &request{commit: rev.Commit, trigger: trigger, triggeredBy: by, remove: true})
		}
	}
}

// queueKnownApps queues the apps known from a repository's earlier revisions at rev, so their
// deploys record why the new revision cannot be used.
func (c *Controller) queueKnownApps(p *environments.Platform, repo environments.Repository, rev source.Revision, team *environments.Team, trigger history.Trigger, by string) {
	c.mu.Lock()
	names := slices.Clone(c.repoApps[repo.URL])
	for _, n := range names {
		c.apps[n].head = rev
	}
	c.mu.Unlock()
	for _, env := range p.Environments {
		if env.Branch == "" {
			continue
		}
		for _, n := range names {
			c.enqueue(Key{n, env.Name}, &request{commit: rev.Commit, trigger: trigger, triggeredBy: by})
		}
	}
}

// historyApps returns the apps the history says were deployed from repoURL, for the first load
// of a repository after a restart.
func (c *Controller) historyApps(ctx context.Context, repoURL string) []string {
	cur, err := c.opts.Store.Current(ctx, history.Filter{})
	if err != nil {
		return nil
	}
	var names []string
	for _, r := range cur {
		if r.Latest != nil && r.Latest.Repository == repoURL && !slices.Contains(names, r.App) {
			names = append(names, r.App)
		}
	}
	return names
}

func (c *Controller) teamAppCount(ctx context.Context, team, env string) int {
	cur, err := c.opts.Store.Current(ctx, history.Filter{Team: team, Environment: env})
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range cur {
		if r.LastSuccess != nil {
			n++
		}
	}
	return n
}

func (c *Controller) enqueue(k Key, r *request) {
	r.queued = c.opts.Now()
	c.mu.Lock()
	c.pending[k] = r
	delete(c.held, k)
	depth := len(c.pending)
	c.mu.Unlock()
	c.opts.Metrics.queue(depth, 0)
	c.queue.Add(k)
}

func (c *Controller) hold(k Key, h Held) {
	h.Key = k
	c.mu.Lock()
	c.held[k] = h
	c.mu.Unlock()
}

// Idle reports whether the controller has nothing queued or running (work waiting for a
// window or a retry with backoff does not count).
func (c *Controller) Idle() bool {
	c.mu.Lock()
	pending := 0
	for k := range c.pending {
		if _, held := c.held[k]; !held {
			pending++
		}
	}
	c.mu.Unlock()
	return pending == 0 && c.queue.Len() == 0 && c.active.Load() == 0
}

// Held lists the automatic work waiting for a window, an unfreeze or an operator.
func (c *Controller) Held() []Held {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Held, 0, len(c.held))
	for _, h := range c.held {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Held) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// Freeze holds automatic deploys to env until Unfreeze; by is who froze it, reason why. The
// freeze is recorded in the history store before it takes effect, so it outlives this process
// and holds on whichever replica leads next. When the store cannot record it, nothing changes
// and the error says so: a freeze that only seemed to hold is worse than a refused one.
func (c *Controller) Freeze(ctx context.Context, env, by, reason string) error {
	c.freezeMu.Lock()
	defer c.freezeMu.Unlock()
	if _, err := c.opts.Store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: true, Reason: reason, By: by, Time: c.opts.Now()}); err != nil {
		return fmt.Errorf("freeze %s: %w", env, err)
	}
	c.mu.Lock()
	c.frozen[env] = reason
	c.mu.Unlock()
	return nil
}

// Unfreeze lifts a freeze (by is who lifted it) and releases the work it held. Like Freeze,
// it is recorded in the history store first, and nothing changes when that fails.
func (c *Controller) Unfreeze(ctx context.Context, env, by string) error {
	c.freezeMu.Lock()
	defer c.freezeMu.Unlock()
	if _, err := c.opts.Store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: false, By: by, Time: c.opts.Now()}); err != nil {
		return fmt.Errorf("unfreeze %s: %w", env, err)
	}
	c.mu.Lock()
	delete(c.frozen, env)
	var release []Key
	for k := range c.held {
		if k.Environment == env {
			release = append(release, k)
		}
	}
	c.mu.Unlock()
	for _, k := range release {
		c.queue.Add(k)
	}
	return nil
}

// loadFreezes replaces the cached frozen set with the history store's freeze state, so a
// restarted flyt or a new leader holds what an operator froze under an earlier one.
func (c *Controller) loadFreezes(ctx context.Context) error {
	c.freezeMu.Lock()
	defer c.freezeMu.Unlock()
	fs, err := c.opts.Store.Freezes(ctx)
	if err != nil {
		return fmt.Errorf("load freezes: %w", err)
	}
	frozen := map[string]string{}
	for _, f := range fs {
		if f.Frozen {
			frozen[f.Environment] = f.Reason
			c.opts.Log.Info("environment is frozen", "environment", f.Environment, "by", f.By, "since", f.Time, "reason", f.Reason)
		}
	}
	c.mu.Lock()
	c.frozen = frozen
	c.mu.Unlock()
	return nil
}

// Frozen returns the frozen environments and why, as this controller holds them (the history
// store's Freezes is the state every replica shares).
func (c *Controller) Frozen() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.frozen))
	for k, v := range c.frozen {
		out[k] = v
	}
	return out
}

// Redeploy forces a deploy of the revision an app should run in env, even when nothing
// changed (flyt deploy).
func (c *Controller) Redeploy(app, env, by, reason string) error {
	if c.appInfo(app) == nil {
		return fmt.Errorf("redeploy %s to %s: %w", app, env, ErrUnknownApp)
	}
	c.enqueue(Key{app, env}, &request{trigger: history.TriggerManual, triggeredBy: by, reason: reason, redeploy: true, forced: true})
	return nil
}

// ErrUnknownApp: no watched repository has an app of that name (yet).
var ErrUnknownApp = errors.New("no watched repository has this app")

func (c *Controller) appInfo(app string) *appInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.apps[app]; ok {
		cp := *a
		return &cp
	}
	return nil
}

// processNext reconciles the next key in deploys' context, unless ctx (taking work) has ended.
func (c *Controller) processNext(ctx, deploys context.Context) bool {
	k, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	if ctx.Err() != nil {
		// Stopping: the queue drains without starting deploys.
		c.queue.Done(k)
		return true
	}
	c.active.Add(1)
	defer c.active.Add(-1)
	defer c.queue.Done(k)
	c.mu.Lock()
	r := c.pending[k]
	delete(c.pending, k)
	depth := len(c.pending)
	c.mu.Unlock()
	var waited time.Duration
	if r != nil {
		waited = c.opts.Now().Sub(r.queued)
	}
	c.opts.Metrics.queue(depth, waited)

	err := c.reconcileCaught(deploys, k, r)
	if err == nil {
		c.queue.Forget(k)
		return true
	}
	c.retry(k, r, err)
	return true
}

// retry queues k again with backoff, with its request unless a newer one arrived meanwhile.
func (c *Controller) retry(k Key, r *request, err error) {
	c.opts.Log.Error(err, "reconcile failed; retrying with backoff", "app", k.App, "environment", k.Environment)
	if r != nil {
		c.mu.Lock()
		if _, newer := c.pending[k]; !newer {
			c.pending[k] = r
		}
		c.mu.Unlock()
	}
	c.queue.AddRateLimited(k)
}

// reconcileCaught is reconcile with a net for panics that the steps inside do not catch
// themselves (render, apply and wait do): the key's deploy is recorded as an error, once per
// commit, and the worker goes on with the next key.
func (c *Controller) reconcileCaught(ctx context.Context, k Key, r *request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log := c.opts.Log.WithValues("app", k.App, "environment", k.Environment)
			c.recordPanic(logr.NewContext(ctx, log), k, r, caught(logr.NewContext(ctx, log), v, "reconcile", ""))
			err = nil
		}
	}()
	return c.reconcile(ctx, k, r)
}

// recordPanic records a deploy of k that ended in error because reconciling it panicked,
// unless its newest deploy already says so for the same commit. Whatever it cannot know
// (the commit, when the panic came before it was decided) stays empty.
func (c *Controller) recordPanic(ctx context.Context, k Key, r *request, pe *panicError) {
	log := logr.FromContextOrDiscard(ctx)
	defer func() {
		if v := recover(); v != nil {
			log.Error(fmt.Errorf("panic: %v", v), "could not record a deploy that panicked", "stack", string(debug.Stack()))
		}
	}()
	app := c.appInfo(k.App)
	if app == nil {
		return
	}
	rec := &history.Deploy{App: k.App, Team: app.team, Environment: k.Environment, Repository: app.repo.URL,
		Trigger: history.TriggerDrift, TriggeredBy: "flyt", StartedAt: c.opts.Now()}
	if r != nil {
		rec.Commit, rec.Trigger, rec.TriggeredBy, rec.Reason, rec.Forced = r.commit, r.trigger, r.triggeredBy, r.reason, r.forced
	}
	if env := c.opts.Platform().Environment(k.Environment); env != nil {
		rec.Cluster = env.Cluster.Name
	}
	msg := (&deployError{history.StateError, "reconcile", pe}).Error()
	if !rec.Forced && c.failedAlready(ctx, k, rec.Commit, func(d *history.Deploy) bool {
		return d.State == history.StateError && d.Message == msg
	}) {
		return
	}
	id, err := c.opts.Store.CreateDeploy(ctx, rec)
	if err != nil {
		log.Error(err, "record a deploy that panicked")
		return
	}
	if _, err := c.opts.Store.AppendStatus(ctx, id, history.Status{State: history.StateError, Step: "reconcile", Message: msg, Time: c.opts.Now()}); err != nil {
		log.Error(err, "record a deploy that panicked")
		return
	}
	rec.ID = id
	c.deployer.notify(*rec, history.StateError, msg)
	c.opts.Metrics.setCurrent(k.App, app.team, k.Environment, string(history.StateError))
}

// errRetry marks a reconcile error worth retrying with backoff (the platform failed).
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// reconcile brings one key to what it should run. It returns an error only when retrying
// may help.
func (c *Controller) reconcile(ctx context.Context, k Key, r *request) error {
	p := c.opts.Platform()
	env := p.Environment(k.Environment)
	app := c.appInfo(k.App)
	if env == nil || app == nil {
		return nil // config changed under the key; nothing to do
	}
	team := p.Team(app.team)
	if team == nil {
		return nil
	}
	log := c.opts.Log.WithValues("app", k.App, "team", app.team, "environment", k.Environment)
	ctx = logr.NewContext(ctx, log)

	last, err := c.opts.Store.LastSuccess(ctx, k.App, k.Environment)
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return fmt.Errorf("read last success: %w", err)
	}

	if r == nil {
		r, err = c.implicitRequest(ctx, k, env, app, last)
		if err != nil || r == nil {
			return err
		}
	}
	if r.trigger == history.TriggerAutoPromotion {
		ok, err := c.autoPromote(ctx, k, env, r)
		if err != nil || !ok {
			return err
		}
	}
	if r.redeploy && r.commit == "" {
		r.commit = c.desiredCommit(ctx, k, env, app, last)
		if r.commit == "" {
			return nil
		}
	}

	// Automatic work waits for windows, freezes and suspensions; people's requests
	// (promotions and rollbacks were checked when asked; manual deploys are forced) do not.
	if automatic(r.trigger) && !r.forced {
		c.mu.Lock()
		reason, frozen := c.frozen[k.Environment]
		c.mu.Unlock()
		if h := env.Hold(c.opts.Now(), frozen, reason); h != nil {
			c.hold(k, Held{Commit: r.commit, Trigger: string(r.trigger), Reason: h.Error(), Until: h.Until})
			c.mu.Lock()
			if _, newer := c.pending[k]; !newer {
				c.pending[k] = r
			}
			c.mu.Unlock()
			if !h.Until.IsZero() {
				c.queue.AddAfter(k, h.Until.Sub(c.opts.Now())+time.Second)
			}
			log.Info("holding deploy", "reason", h.Error())
			return nil
		}
	}
	c.mu.Lock()
	delete(c.held, k)
	c.mu.Unlock()

	var cluster *Cluster
	if c.opts.TeamCluster != nil {
		cluster, err = c.opts.TeamCluster(k.Environment, team)
	} else {
		cluster, err = c.opts.Cluster(k.Environment)
	}
	if err != nil {
		return errRetry{fmt.Errorf("connect to %s: %w", k.Environment, err)}
	}
	policy := Policy{Namespaces: []string{env.TeamNamespace(team)}, Timeout: env.Timeout.Duration, WaitForImages: env.WaitForImages}
	target := Target{App: k.App, Team: app.team, Environment: k.Environment, Repository: app.repo.URL,
		Trigger: r.trigger, TriggeredBy: r.triggeredBy, Reason: r.reason, Forced: r.forced}

	if r.remove {
		if last == nil {
			return nil
		}
		c.supersede(k, "")
		target.Revision = source.Revision{Commit: r.commit}
		_, err := c.deployer.Remove(ctx, cluster, target, last)
		return retryable(err)
	}

	rev, res, renderErr := c.render(ctx, app, team, env, k.App, r.commit)
	target.Revision = rev
	once := automatic(r.trigger) && !r.forced && !r.redeploy
	if renderErr != nil && once && c.failedAlready(ctx, k, rev.Commit, func(d *history.Deploy) bool {
		return d.State == history.StateFailure && d.Message == renderFailure(renderErr).Error()
	}) {
		// A commit that does not render is recorded (and notified) once, not again at every
		// resync; a new commit, or flyt deploy, tries again.
		return nil
	}
	if renderErr == nil && once && c.failedAlready(ctx, k, rev.Commit, func(d *history.Deploy) bool {
		return d.State == history.StateError && d.Digest == res.Digest && panickedAt(d.Message)
	}) {
		// Applying exactly this panicked before: recorded once, like a render failure.
		return nil
	}
	digest := ""
	if renderErr == nil && !r.redeploy {
		digest = res.Digest
	}
	if c.supersede(k, digest) {
		return nil // exactly this is rolling out already
	}
	if renderErr == nil && !r.redeploy && last != nil && last.Digest == res.Digest {
		// Nothing new to deploy: only check for drift.
		drifted, err := c.deployer.Drifted(ctx, cluster, res.Objects, target, last.ID, policy)
		if err != nil {
			return errRetry{fmt.Errorf("drift check: %w", err)}
		}
		if len(drifted) == 0 {
			return nil
		}
		log.Info("live objects drifted; correcting", "objects", drifted)
		target.Trigger, target.TriggeredBy = history.TriggerDrift, "flyt"
		target.Reason = "drifted: " + strings.Join(drifted, ", ")
	}
	ro, rec, err := c.deployer.StartRollout(ctx, cluster, target, res, renderErr, policy)
	if ro == nil {
		c.finished(k, app.team, rev.Commit, rec, err)
		return retryable(err)
	}
	// The objects are applied; the rollout is the cluster's work now. Wait for it outside
	// the workers, which go on to other keys.
	wctx, cancel := context.WithCancelCause(ctx)
	fl := &inflight{digest: ro.Digest(), cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.inflight[k] = fl
	c.mu.Unlock()
	c.active.Add(1)
	c.waiters.Go(func() {
		defer c.active.Add(-1)
		defer cancel(nil)
		defer func() {
			// Whatever happened, the key is free for the next deploy (supersede waits for done).
			c.mu.Lock()
			if c.inflight[k] == fl {
				delete(c.inflight, k)
			}
			c.mu.Unlock()
			close(fl.done)
		}()
		defer func() {
			// Wait catches its own panics and records them; this is for what follows it.
			if v := recover(); v != nil {
				caught(ctx, v, "finish", "")
			}
		}()
		rec, err := ro.Wait(wctx)
		c.finished(k, app.team, rev.Commit, rec, err)
		if err := retryable(err); err != nil {
			c.retry(k, r, err)
		}
	})
	return nil
}

// supersede makes way for a new deploy of k: a rollout of k still waiting for readiness is
// cancelled (it ends inactive, superseded) and supersede returns once it has ended. When
// digest is not empty and the waiting rollout applied exactly that, it is left to finish and
// supersede reports true: there is nothing new to deploy.
func (c *Controller) supersede(k Key, digest string) bool {
	c.mu.Lock()
	fl := c.inflight[k]
	c.mu.Unlock()
	if fl == nil {
		return false
	}
	if digest != "" && fl.digest == digest {
		return true
	}
	fl.cancel(fmt.Errorf("superseded by a newer deploy of %s to %s", k.App, k.Environment))
	<-fl.done
	return false
}

// finished does what follows a deploy's end: the current-state metric, and on success the
// automatic promotions downstream.
func (c *Controller) finished(k Key, team, commit string, rec *history.Deploy, err error) {
	if rec != nil {
		c.opts.Metrics.setCurrent(k.App, team, k.Environment, string(rec.State))
	}
	if err == nil && rec != nil {
		c.queueDownstream(c.opts.Platform(), k, commit)
	}
}

// retryable keeps errors worth a retry (the platform failed) and drops failures (the spec or
// workload is bad; a new revision is needed).
func retryable(err error) error {
	if err == nil || isPanic(err) {
		return nil
	}
	switch StateOf(err) {
	case history.StateError:
		return errRetry{err}
	}
	return nil
}

// failedAlready reports whether k's newest deploy is of commit and ended as same says (a
// failure with the same message, say), so that what a commit cannot do is recorded once.
// When the store cannot tell, it is not.
func (c *Controller) failedAlready(ctx context.Context, k Key, commit string, same func(*history.Deploy) bool) bool {
	cur, err := c.opts.Store.Current(ctx, history.Filter{App: k.App, Environment: k.Environment})
	if err != nil {
		return false
	}
	for _, p := range cur {
		if d := p.Latest; p.Environment == k.Environment && d != nil {
			return d.Commit == commit && same(d)
		}
	}
	return false
}

func automatic(t history.Trigger) bool {
	switch t {
	case history.TriggerPush, history.TriggerPoll, history.TriggerAutoPromotion, history.TriggerDrift:
		return true
	}
	return false
}

// implicitRequest decides what a key with no explicit request (a resync, a released hold)
// should do: deploy what it should run, which often turns out to be nothing.
func (c *Controller) implicitRequest(ctx context.Context, k Key, env *environments.Environment, app *appInfo, last *history.DeployDetail) (*request, error) {
	c.mu.Lock()
	h, wasHeld := c.held[k]
	c.mu.Unlock()
	if wasHeld && h.Commit != "" {
		return &request{commit: h.Commit, trigger: history.Trigger(h.Trigger), triggeredBy: "flyt"}, nil
	}
	commit := c.desiredCommit(ctx, k, env, app, last)
	if commit == "" {
		return nil, nil
	}
	return &request{commit: commit, trigger: history.TriggerDrift, triggeredBy: "flyt"}, nil
}

// desiredCommit is what an environment should run for an app: the branch head for a
// branch-fed environment, the newest desired revision for a promoted one.
func (c *Controller) desiredCommit(ctx context.Context, k Key, env *environments.Environment, app *appInfo, last *history.DeployDetail) string {
	if env.PromoteFrom == "" {
		return app.head.Commit
	}
	d, err := c.opts.Store.Desired(ctx, k.App, k.Environment)
	if err == nil {
		return d.Commit
	}
	if last != nil {
		return last.Commit
	}
	return ""
}

// render reads the app's repository at commit and renders it for env. A panic in any of it
// is the app's render failure: the team's input made it.
func (c *Controller) render(ctx context.Context, app *appInfo, team *environments.Team, env *environments.Environment, name, commit string) (rev source.Revision, res *render.Result, err error) {
	var file string
	defer func() {
		if v := recover(); v != nil {
			if rev.Commit == "" {
				rev = source.Revision{Commit: commit}
			}
			res, err = nil, &deployError{history.StateFailure, "render", caught(ctx, v, "render", file)}
		}
	}()
	rev, err = c.opts.Cache.Revision(ctx, app.repo, commit)
	if err != nil {
		rev = source.Revision{Commit: commit}
		return rev, nil, &deployError{history.StateError, "fetch", err}
	}
	// {{branch}} is the branch that feeds the environment, for every commit deployed there,
	// and empty where promotion feeds it (render.Vars). Never whether commit is the branch's
	// head right now: a rollback, or a resync of an environment that runs an older commit,
	// would render other objects than that commit's first deploy there did.
	if env.Branch != "" {
		rev.Branch = app.head.Branch
	}
	repo, err := c.loadRepo(ctx, app.repo, commit)
	if err != nil {
		return rev, nil, err
	}
	for _, a := range repo.Apps {
		if a.Name == name {
			file = strings.Join(a.Files, ", ")
		}
	}
	if c.hook != nil {
		c.hook("render", name)
	}
	renv := render.NewEnvironment(env, team)
	res, err = render.Render(repo, name, &renv, render.Vars{Commit: commit, Branch: rev.Branch, Repo: app.repo.URL})
	return rev, res, err
}

// loadedRepo is a repository loaded at one commit for one set of environment names.
type loadedRepo struct {
	commit, envs string
	repo         *render.Repo
}

// loadRepo reads and parses a repository at commit, once per commit: every app of the
// repository in every environment renders from the same load (render.Repo is immutable and
// safe to share), so a push to a repository with twenty apps parses it once, not forty
// times, also when the workers ask for it at the same moment. One load per repository is
// kept, the newest asked for.
func (c *Controller) loadRepo(ctx context.Context, r environments.Repository, commit string) (*render.Repo, error) {
	p := c.opts.Platform()
	names := envNames(p)
	// A load depends on the environment names and the limits; a config change of either loads
	// the repository again.
	envs := strings.Join(names, ",") + fmt.Sprintf("\x00%+v", p.Limits)
	c.mu.Lock()
	l, ok := c.loaded[r.URL]
	c.mu.Unlock()
	if ok && l.commit == commit && l.envs == envs {
		return l.repo, nil
	}
	v, err, _ := c.loading.Do(r.URL+"\x00"+commit+"\x00"+envs, func() (_ any, err error) {
		// A panic must not leave singleflight: it would panic again in every caller waiting
		// for this load. As an error, each of them records its own app's failure.
		defer catch(ctx, &err, history.StateFailure, "render", "")
		if c.hook != nil {
			c.hook("load", r.URL)
		}
		fsys, err := c.opts.Cache.Checkout(ctx, r, commit)
		if err != nil {
			return nil, &deployError{history.StateError, "fetch", err}
		}
		c.loads.Add(1)
		repo, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: names, Limits: p.Limits})
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.loaded[r.URL] = loadedRepo{commit: commit, envs: envs, repo: repo}
		c.mu.Unlock()
		return repo, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*render.Repo), nil
}

// queueDownstream queues an automatic promotion check in every environment promoted from k's
// environment with auto set.
func (c *Controller) queueDownstream(p *environments.Platform, k Key, commit string) {
	for _, env := range p.Downstream(k.Environment) {
		if env.Auto {
			c.enqueue(Key{k.App, env.Name}, &request{commit: commit, trigger: history.TriggerAutoPromotion, triggeredBy: "flyt"})
		}
	}
}

// autoPromote decides whether an automatic promotion may go now. When the soak or a window
// is all that stands in the way, the key comes back when it has passed.
func (c *Controller) autoPromote(ctx context.Context, k Key, env *environments.Environment, r *request) (bool, error) {
	src, err := c.sourceState(ctx, k.App, env, r.commit)
	if err != nil {
		return false, errRetry{err}
	}
	ok, retryAt := environments.ShouldAutoPromote(c.opts.Now(), env, src)
	if !ok {
		if !retryAt.IsZero() {
			c.mu.Lock()
			if _, newer := c.pending[k]; !newer {
				c.pending[k] = r
			}
			c.mu.Unlock()
			c.queue.AddAfter(k, retryAt.Sub(c.opts.Now())+time.Second)
		}
		return false, nil
	}
	if _, err := c.opts.Store.AppendDesired(ctx, history.DesiredRevision{App: k.App, Environment: k.Environment, Commit: r.commit,
		Trigger: history.TriggerAutoPromotion, By: "flyt", Time: c.opts.Now()}); err != nil {
		return false, errRetry{fmt.Errorf("record desired revision: %w", err)}
	}
	return true, nil
}

// sourceState reads what promotion policy needs about commit from the history store.
func (c *Controller) sourceState(ctx context.Context, app string, target *environments.Environment, commit string) (environments.SourceState, error) {
	s := environments.SourceState{Revision: commit}
	if target.PromoteFrom == "" {
		return s, nil
	}
	first, err := c.opts.Store.FirstSuccess(ctx, app, target.PromoteFrom, commit)
	switch {
	case err == nil:
		s.Succeeded, s.FirstSucceededAt = true, first.FinishedAt
	case !errors.Is(err, history.ErrNotFound):
		return s, fmt.Errorf("read first success: %w", err)
	}
	if last, err := c.opts.Store.LastSuccess(ctx, app, target.PromoteFrom); err == nil {
		s.Current = last.Commit == commit
	}
	if d, err := c.opts.Store.Desired(ctx, app, target.Name); err == nil {
		s.TargetRevision = d.Commit
	}
	c.mu.Lock()
	s.FreezeReason, s.Frozen = c.frozen[target.Name]
	c.mu.Unlock()
	return s, nil
}

func envNames(p *environments.Platform) []string {
	names := make([]string, len(p.Environments))
	for i, e := range p.Environments {
		names[i] = e.Name
	}
	return names
}

func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// normalizeURL makes the spellings of one repository URL compare equal.
func normalizeURL(u string) string {
	u = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(u), "/"))
	return strings.TrimSuffix(u, ".git")
}
