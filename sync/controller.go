package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
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
//
// Its state is split by what guards it, each part with a mutex of its own that is never held
// across I/O or while taking another: pending (each key's newest request, handoff.go), repos
// (the apps, pushes and loads of the teams' repositories, repos.go), holds (freezes and held
// work, holds.go) and rollouts (the readiness waits beside the workers, rollouts.go).
type Controller struct {
	opts     Options
	deployer *Deployer
	queue    *fairQueue
	pending  *pendingRequests
	repos    *repositories
	holds    *holds
	rollouts *rollouts
	// active counts keys being reconciled or rolling out right now.
	active atomic.Int64
	// loads counts the repository loads done (tests read it).
	loads atomic.Int64

	// hook is a test seam: when set, it is called at the start of each step named ("load"
	// with the repository URL; "queue", "render" and "hand-off" with the app's name), so a
	// test can make that step panic. Set it before the work it concerns is queued; nil in
	// flyt.
	hook func(step, subject string)
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
		pending:  &pendingRequests{byKey: map[Key]*request{}},
		repos:    newRepositories(),
		holds:    newHolds(),
		rollouts: newRollouts(),
	}
	c.queue = newFairQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[Key](750*time.Millisecond, 5*time.Minute),
		min(opts.TeamWorkers, opts.Workers), c.teamOf)
	return c
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
	c.rollouts.waiters.Wait()
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
	var keys []Key
	for _, app := range c.repos.appNames() {
		for _, env := range p.Environments {
			keys = append(keys, Key{app, env.Name})
		}
	}
	for _, k := range keys {
		c.queue.Add(k)
	}
}

// Idle reports whether the controller has nothing queued or running (work waiting for a
// window or a retry with backoff does not count).
func (c *Controller) Idle() bool {
	pending := c.pending.count(c.holds.isHeld)
	return pending == 0 && c.queue.Len() == 0 && c.active.Load() == 0
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

// ErrUnknownApp means that no watched repository has an app of that name (yet).
var ErrUnknownApp = errors.New("no watched repository has this app")
