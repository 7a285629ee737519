package sync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// PromoteRequest asks to bring an app's revision into an environment fed by promotion.
type PromoteRequest struct {
	App string `json:"app"`
	// To is the target environment.
	To string `json:"to"`
	// Revision is the commit to promote; empty means the one the source environment runs
	// successfully now.
	Revision string `json:"revision,omitempty"`
	// Force overrides every refusal; it is recorded with By and Reason.
	Force  bool   `json:"force,omitempty"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Promote checks a promotion against the target environment's policy and, when allowed,
// records the new desired revision and queues its deploy. A refusal is an
// *environments.RefusedError saying why (never succeeded, not soaked, window closed,
// suspended, frozen).
func (c *Controller) Promote(ctx context.Context, r PromoteRequest) (*history.DesiredRevision, error) {
	p := c.opts.Platform()
	env := p.Environment(r.To)
	if env == nil {
		return nil, fmt.Errorf("promote %s: %w: %q", r.App, ErrUnknownEnvironment, r.To)
	}
	if c.appInfo(r.App) == nil {
		return nil, fmt.Errorf("promote %s: %w", r.App, ErrUnknownApp)
	}
	if env.PromoteFrom == "" {
		return nil, fmt.Errorf("promote %s to %s: it follows branch %q: %w", r.App, r.To, env.Branch, environments.ErrNotPromotable)
	}
	commit := r.Revision
	if commit == "" {
		last, err := c.opts.Store.LastSuccess(ctx, r.App, env.PromoteFrom)
		if errors.Is(err, history.ErrNotFound) {
			return nil, &environments.RefusedError{Env: r.To, Reason: environments.NeverSucceeded,
				Detail: fmt.Sprintf("%s never ran successfully in %s", r.App, env.PromoteFrom)}
		}
		if err != nil {
			return nil, fmt.Errorf("promote %s: read %s: %w", r.App, env.PromoteFrom, err)
		}
		commit = last.Commit
	} else if full, err := c.resolveCommit(ctx, r.App, env.PromoteFrom, commit); err == nil {
		commit = full
	}
	src, err := c.sourceState(ctx, r.App, env, commit)
	if err != nil {
		return nil, err
	}
	if err := environments.CheckPromotion(c.opts.Now(), env, src, r.Force); err != nil {
		return nil, err
	}
	return c.setDesired(ctx, Key{r.App, r.To}, history.DesiredRevision{App: r.App, Environment: r.To, Commit: commit,
		Trigger: history.TriggerPromotion, By: r.By, Reason: r.Reason, Forced: r.Force})
}

// RollbackRequest asks to bring an environment back to an earlier revision that succeeded there.
type RollbackRequest struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	// To is a deploy ID or a commit (full or at least 7 characters) that succeeded in the
	// environment; empty means the revision before the current one.
	To     string `json:"to,omitempty"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Rollback redeploys an earlier revision that succeeded in the environment, recorded with
// trigger rollback. Rollbacks are emergency work: deploy windows and freezes do not hold them.
// In an environment fed by promotion the revision also becomes the desired one, so it stays
// until the next promotion; in one fed by a branch the next commit deploys as usual.
func (c *Controller) Rollback(ctx context.Context, r RollbackRequest) (*history.DesiredRevision, error) {
	p := c.opts.Platform()
	env := p.Environment(r.Environment)
	if env == nil {
		return nil, fmt.Errorf("rollback %s: %w: %q", r.App, ErrUnknownEnvironment, r.Environment)
	}
	if c.appInfo(r.App) == nil {
		return nil, fmt.Errorf("rollback %s: %w", r.App, ErrUnknownApp)
	}
	commit, err := c.rollbackCommit(ctx, r)
	if err != nil {
		return nil, err
	}
	d := history.DesiredRevision{App: r.App, Environment: r.Environment, Commit: commit,
		Trigger: history.TriggerRollback, By: r.By, Reason: r.Reason}
	if env.PromoteFrom != "" {
		return c.setDesired(ctx, Key{r.App, r.Environment}, d)
	}
	c.enqueue(Key{r.App, r.Environment}, &request{commit: commit, trigger: history.TriggerRollback, triggeredBy: r.By, reason: r.Reason, redeploy: true})
	return &d, nil
}

// rollbackCommit finds the revision a rollback goes to.
func (c *Controller) rollbackCommit(ctx context.Context, r RollbackRequest) (string, error) {
	if r.To != "" {
		if id, err := strconv.ParseInt(r.To, 10, 64); err == nil && len(r.To) < 7 {
			d, err := c.opts.Store.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("rollback %s: deploy %d: %w", r.App, id, err)
			}
			if d.App != r.App || d.Environment != r.Environment || d.State != history.StateSuccess {
				return "", fmt.Errorf("rollback %s: deploy %d is not a successful deploy of %s in %s: %w", r.App, id, r.App, r.Environment, ErrNoRollbackTarget)
			}
			return d.Commit, nil
		}
		commit, err := c.resolveCommit(ctx, r.App, r.Environment, r.To)
		if err != nil {
			return "", err
		}
		if _, err := c.opts.Store.FirstSuccess(ctx, r.App, r.Environment, commit); err != nil {
			return "", fmt.Errorf("rollback %s: %s never succeeded in %s: %w", r.App, shortSHA(commit), r.Environment, ErrNoRollbackTarget)
		}
		return commit, nil
	}
	cur, err := c.opts.Store.LastSuccess(ctx, r.App, r.Environment)
	if err != nil {
		return "", fmt.Errorf("rollback %s: nothing ran successfully in %s: %w", r.App, r.Environment, ErrNoRollbackTarget)
	}
	page, err := c.opts.Store.List(ctx, history.Filter{App: r.App, Environment: r.Environment, State: history.StateSuccess, Limit: history.MaxLimit})
	if err != nil {
		return "", fmt.Errorf("rollback %s: %w", r.App, err)
	}
	for _, d := range page.Deploys {
		if d.Commit != cur.Commit {
			return d.Commit, nil
		}
	}
	return "", fmt.Errorf("rollback %s: only %s ever succeeded in %s: %w", r.App, shortSHA(cur.Commit), r.Environment, ErrNoRollbackTarget)
}

// resolveCommit expands a commit prefix to the full SHA of a deploy of app in env.
func (c *Controller) resolveCommit(ctx context.Context, app, env, prefix string) (string, error) {
	if len(prefix) == 40 {
		return prefix, nil
	}
	page, err := c.opts.Store.List(ctx, history.Filter{App: app, Environment: env, Commit: prefix, Limit: 1})
	if err != nil {
		return "", fmt.Errorf("look up commit %s: %w", prefix, err)
	}
	if len(page.Deploys) == 0 || !strings.HasPrefix(page.Deploys[0].Commit, prefix) {
		return "", fmt.Errorf("no deploy of %s in %s has commit %s: %w", app, env, prefix, ErrNoRollbackTarget)
	}
	return page.Deploys[0].Commit, nil
}

func (c *Controller) setDesired(ctx context.Context, k Key, d history.DesiredRevision) (*history.DesiredRevision, error) {
	d.Time = c.opts.Now()
	id, err := c.opts.Store.AppendDesired(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("record desired revision of %s: %w", k, err)
	}
	d.ID = id
	c.enqueue(k, &request{commit: d.Commit, trigger: d.Trigger, triggeredBy: d.By, reason: d.Reason, forced: d.Forced, redeploy: true})
	return &d, nil
}

// Errors of promotions and rollbacks, for errors.Is.
var (
	ErrUnknownEnvironment = errors.New("no such environment")
	ErrNoRollbackTarget   = errors.New("no earlier successful revision to roll back to")
)
