package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/repourl"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// appInfo is what the controller knows of an app from its repository's last successful load.
type appInfo struct {
	team string
	repo environments.Repository
	// head is the newest revision of the repository's branch.
	head source.Revision
}

// repositories is what the controller knows of the teams' repositories: the apps each one's
// last good load declared, the pushes webhooks announced, and the newest load of each, kept
// so that every app of a repository renders from one parse.
type repositories struct {
	// mu guards the maps below; it is never held across I/O (a load runs outside it, in
	// loading) or while taking another lock.
	mu       gosync.Mutex
	apps     map[string]*appInfo   // by app name
	repoApps map[string][]string   // by repository URL: the apps of its last good load
	pushes   map[string][]push     // repository URL → the webhooks' pushes, until its change is seen
	loaded   map[string]loadedRepo // by repository URL: its newest load

	// loading is the loads in progress, by repository URL, commit and environments.
	loading singleflight.Group
}

func newRepositories() *repositories {
	return &repositories{apps: map[string]*appInfo{}, repoApps: map[string][]string{},
		pushes: map[string][]push{}, loaded: map[string]loadedRepo{}}
}

// app returns a copy of what is known of app, or nil.
func (rs *repositories) app(name string) *appInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if a, ok := rs.apps[name]; ok {
		cp := *a
		return &cp
	}
	return nil
}

// appNames returns the names of every known app.
func (rs *repositories) appNames() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	names := make([]string, 0, len(rs.apps))
	for app := range rs.apps {
		names = append(names, app)
	}
	return names
}

// accept records names as the apps of repo's new head rev, owned by team, and returns the
// apps its previous good load had (known is false when none was seen since flyt started)
// and those of names it accepted: an app another repository already declares is refused.
func (rs *repositories) accept(log logr.Logger, team string, repo environments.Repository, rev source.Revision, names []string) (previous []string, known bool, accepted []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	previous, known = rs.repoApps[repo.URL]
	for _, name := range names {
		if a, ok := rs.apps[name]; ok && a.repo.URL != repo.URL {
			log.Error(errors.New("duplicate app name"), "app is already deployed from another repository; app names are unique on the platform", "app", name, "owner", a.repo.URL)
			continue
		}
		rs.apps[name] = &appInfo{team: team, repo: repo, head: rev}
		accepted = append(accepted, name)
	}
	rs.repoApps[repo.URL] = accepted
	return previous, known, accepted
}

// advance makes rev the head of the apps of repo's last good load and returns them.
func (rs *repositories) advance(repo environments.Repository, rev source.Revision) []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	names := slices.Clone(rs.repoApps[repo.URL])
	for _, n := range names {
		rs.apps[n].head = rev
	}
	return names
}

// teamOf is the team whose share of the workers k's work counts against.
func (c *Controller) teamOf(k Key) string {
	if a := c.appInfo(k.App); a != nil {
		return a.team
	}
	return ""
}

// appInfo returns a copy of what is known of app, or nil when no watched repository has it.
func (c *Controller) appInfo(app string) *appInfo { return c.repos.app(app) }

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
	u := repourl.Normalize(repoURL)
	rs := c.repos
	rs.mu.Lock()
	ps := rs.pushes[u]
	ps = append(ps, push{commit: commit, by: pusher})
	if len(ps) > maxPushes {
		ps = slices.Clone(ps[len(ps)-maxPushes:])
	}
	rs.pushes[u] = ps
	rs.mu.Unlock()
}

// credit says what started the deploys of repo's new head rev and whom they are credited to:
// a push when a webhook announced one since the last change seen (the pushes are used up),
// credited to the pusher of rev itself, or else to rev's author; a poll by flyt otherwise.
func (c *Controller) credit(repo environments.Repository, rev source.Revision) (history.Trigger, string) {
	u := repourl.Normalize(repo.URL)
	rs := c.repos
	rs.mu.Lock()
	ps, ok := rs.pushes[u]
	delete(rs.pushes, u)
	rs.mu.Unlock()
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
			_ = caught(logr.NewContext(ctx, log), v, "repository changed", "") // logged
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
		c.queueKnownApps(p, repo, rev, trigger, by)
		return
	}
	names := make([]string, 0, len(loaded.Apps))
	for _, a := range loaded.Apps {
		names = append(names, a.Name)
	}

	trigger, by := c.credit(repo, rev)
	previous, known, accepted := c.repos.accept(log, team.Name, repo, rev, names)
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
		if len(removed) > 0 {
			c.queueRemovals(ctx, log, p, team.Name, env.Name, removed, &request{commit: rev.Commit, trigger: trigger, triggeredBy: by, remove: true})
		}
	}
}

// queueRemovals queues the removal r of the apps removed from env, or holds them for an
// operator when they are more than half of team's apps there and the platform does not
// allow mass pruning.
func (c *Controller) queueRemovals(ctx context.Context, log logr.Logger, p *environments.Platform, team, env string, removed []string, r *request) {
	if !p.Server.AllowMassPrune && 2*len(removed) > c.teamAppCount(ctx, team, env) {
		for _, name := range removed {
			c.holds.hold(Key{name, env}, Held{Commit: r.commit, Trigger: string(r.trigger),
				Reason: fmt.Sprintf("revision %s removes %d of team %s's apps in %s; held for an operator (set server.allowMassPrune, or flyt deploy each app)", shortSHA(r.commit), len(removed), team, env)})
		}
		log.Info("holding mass removal of apps", "environment", env, "apps", removed)
		return
	}
	for _, name := range removed {
		rr := *r
		c.enqueue(Key{name, env}, &rr)
	}
}

// queueKnownApps queues the apps known from a repository's earlier revisions at rev, so their
// deploys record why the new revision cannot be used.
func (c *Controller) queueKnownApps(p *environments.Platform, repo environments.Repository, rev source.Revision, trigger history.Trigger, by string) {
	names := c.repos.advance(repo, rev)
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

// teamAppCount is how many of team's apps have succeeded in env, the measure of a mass
// removal.
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
	rs := c.repos
	rs.mu.Lock()
	l, ok := rs.loaded[r.URL]
	rs.mu.Unlock()
	if ok && l.commit == commit && l.envs == envs {
		return l.repo, nil
	}
	v, err, _ := rs.loading.Do(r.URL+"\x00"+commit+"\x00"+envs, func() (_ any, err error) {
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
		rs.mu.Lock()
		rs.loaded[r.URL] = loadedRepo{commit: commit, envs: envs, repo: repo}
		rs.mu.Unlock()
		return repo, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*render.Repo), nil
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
