package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// job is one reconcile of a key as decide settled it: the request it carries out, where, for
// which team, and what ran there last.
type job struct {
	key  Key
	r    *request
	env  *environments.Environment
	team *environments.Team
	app  *appInfo
	// last is the key's last successful deploy; nil when it has none.
	last *history.DeployDetail
	log  logr.Logger
}

// reconcile brings one key to what it should run: decide what to do, hold it back or go on,
// render, then check for drift or apply, and hand the rollout off to wait outside the
// worker. It returns an error only when retrying may help.
func (c *Controller) reconcile(ctx context.Context, k Key, r *request) error {
	j := c.newJob(k, r)
	if j == nil {
		return nil // config changed under the key; nothing to do
	}
	ctx = logr.NewContext(ctx, j.log)
	if ok, err := c.decide(ctx, j); err != nil || !ok {
		return err
	}
	if c.holdBack(j) {
		return nil
	}
	cluster, err := c.connect(j)
	if err != nil {
		return err
	}
	policy := Policy{Namespaces: []string{j.env.TeamNamespace(j.team)}, Timeout: j.env.Timeout.Duration, WaitForImages: j.env.WaitForImages}
	target := Target{App: k.App, Team: j.app.team, Environment: k.Environment, Repository: j.app.repo.URL,
		Trigger: j.r.trigger, TriggeredBy: j.r.triggeredBy, Reason: j.r.reason, Forced: j.r.forced}
	if j.r.remove {
		return c.remove(ctx, j, cluster, target)
	}

	rev, res, renderErr := c.render(ctx, j.app, j.team, j.env, k.App, j.r.commit)
	target.Revision = rev
	if c.recordedAlready(ctx, j, rev.Commit, res, renderErr) {
		return nil
	}
	unchanged := renderErr == nil && !j.r.redeploy
	digest := ""
	if unchanged {
		digest = res.Digest
	}
	if c.supersede(k, digest) {
		return nil // exactly this is rolling out already
	}
	if unchanged && j.last != nil && j.last.Digest == res.Digest {
		// Nothing new to deploy: only check for drift.
		drifted, err := c.drift(ctx, j, cluster, res, &target, policy)
		if err != nil || !drifted {
			return err
		}
	}
	return c.deploy(ctx, j, cluster, target, res, renderErr, policy)
}

// newJob looks up what k's reconcile needs from the platform and the known apps; nil when
// the environment, the app or its team is gone.
func (c *Controller) newJob(k Key, r *request) *job {
	p := c.opts.Platform()
	env := p.Environment(k.Environment)
	app := c.appInfo(k.App)
	if env == nil || app == nil {
		return nil
	}
	team := p.Team(app.team)
	if team == nil {
		return nil
	}
	log := c.opts.Log.WithValues("app", k.App, "team", app.team, "environment", k.Environment)
	return &job{key: k, r: r, env: env, team: team, app: app, log: log}
}

// decide settles what j deploys: the last success, the request when there was none (a
// resync, a released hold), whether an automatic promotion may go now, and the commit of a
// redeploy. It reports false when there is nothing to do.
func (c *Controller) decide(ctx context.Context, j *job) (bool, error) {
	k := j.key
	last, err := c.opts.Store.LastSuccess(ctx, k.App, k.Environment)
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return false, fmt.Errorf("read last success: %w", err)
	}
	j.last = last
	if j.r == nil {
		j.r = c.implicitRequest(ctx, j)
		if j.r == nil {
			return false, nil
		}
	}
	if j.r.trigger == history.TriggerAutoPromotion {
		ok, err := c.autoPromote(ctx, k, j.env, j.r)
		if err != nil || !ok {
			return false, err
		}
	}
	if j.r.redeploy && j.r.commit == "" {
		j.r.commit = c.desiredCommit(ctx, j)
		if j.r.commit == "" {
			return false, nil
		}
	}
	return true, nil
}

// connect returns the connection j's deploy uses: the team's own when TeamCluster is set.
func (c *Controller) connect(j *job) (*Cluster, error) {
	var cluster *Cluster
	var err error
	if c.opts.TeamCluster != nil {
		cluster, err = c.opts.TeamCluster(j.key.Environment, j.team)
	} else {
		cluster, err = c.opts.Cluster(j.key.Environment)
	}
	if err != nil {
		return nil, errRetry{fmt.Errorf("connect to %s: %w", j.key.Environment, err)}
	}
	return cluster, nil
}

// remove deletes the app of j from its environment, after any rollout of it has ended.
func (c *Controller) remove(ctx context.Context, j *job, cluster *Cluster, target Target) error {
	if j.last == nil {
		return nil
	}
	c.supersede(j.key, "")
	target.Revision = source.Revision{Commit: j.r.commit}
	_, err := c.deployer.Remove(ctx, cluster, target, j.last)
	return retryable(err)
}

// recordedAlready reports whether automatic work of j at commit ended before in a way that
// is recorded once, not at every resync: a render failure with the same message, or a panic
// while applying exactly these objects. A new commit, or flyt deploy, tries again.
func (c *Controller) recordedAlready(ctx context.Context, j *job, commit string, res *render.Result, renderErr error) bool {
	if !automatic(j.r.trigger) || j.r.forced || j.r.redeploy {
		return false
	}
	if renderErr != nil {
		msg := renderFailure(renderErr).Error()
		return c.failedAlready(ctx, j.key, commit, func(d *history.Deploy) bool {
			return d.State == history.StateFailure && d.Message == msg
		})
	}
	return c.failedAlready(ctx, j.key, commit, func(d *history.Deploy) bool {
		return d.State == history.StateError && d.Digest == res.Digest && panickedAt(d.Message)
	})
}

// drift checks whether j's live objects still are what its last success applied. When they
// drifted it reports true and makes target a drift correction.
func (c *Controller) drift(ctx context.Context, j *job, cluster *Cluster, res *render.Result, target *Target, policy Policy) (bool, error) {
	drifted, err := c.deployer.Drifted(ctx, cluster, res.Objects, *target, j.last.ID, policy)
	if err != nil {
		return false, errRetry{fmt.Errorf("drift check: %w", err)}
	}
	if len(drifted) == 0 {
		return false, nil
	}
	j.log.Info("live objects drifted; correcting", "objects", drifted)
	target.Trigger, target.TriggeredBy = history.TriggerDrift, "flyt"
	target.Reason = "drifted: " + strings.Join(drifted, ", ")
	return true, nil
}

// deploy applies what j rendered (or records why it could not) and hands the rollout off;
// a deploy that ended before its wait is finished here.
func (c *Controller) deploy(ctx context.Context, j *job, cluster *Cluster, target Target, res *render.Result, renderErr error, policy Policy) error {
	ro, rec, err := c.deployer.StartRollout(ctx, cluster, target, res, renderErr, policy)
	if ro == nil {
		c.finished(j.key, j.app.team, target.Revision.Commit, rec, err)
		return retryable(err)
	}
	c.handOff(ctx, j, target.Revision.Commit, ro)
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

// automatic reports whether t starts work by itself, not at someone's request: such work
// waits for windows and freezes, and what it cannot do is recorded once.
func automatic(t history.Trigger) bool {
	switch t {
	case history.TriggerPush, history.TriggerPoll, history.TriggerAutoPromotion, history.TriggerDrift:
		return true
	}
	return false
}

// implicitRequest decides what a key with no explicit request (a resync, a released hold)
// should do: deploy what it should run, which often turns out to be nothing (nil).
func (c *Controller) implicitRequest(ctx context.Context, j *job) *request {
	if h, wasHeld := c.holds.heldFor(j.key); wasHeld && h.Commit != "" {
		return &request{commit: h.Commit, trigger: history.Trigger(h.Trigger), triggeredBy: "flyt"}
	}
	commit := c.desiredCommit(ctx, j)
	if commit == "" {
		return nil
	}
	return &request{commit: commit, trigger: history.TriggerDrift, triggeredBy: "flyt"}
}

// desiredCommit is what an environment should run for an app: the branch head for a
// branch-fed environment, the newest desired revision for a promoted one.
func (c *Controller) desiredCommit(ctx context.Context, j *job) string {
	if j.env.PromoteFrom == "" {
		return j.app.head.Commit
	}
	d, err := c.opts.Store.Desired(ctx, j.key.App, j.key.Environment)
	if err == nil {
		return d.Commit
	}
	if j.last != nil {
		return j.last.Commit
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
			c.requeue(k, r, retryAt)
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
	s.FreezeReason, s.Frozen = c.holds.frozenReason(target.Name)
	return s, nil
}
