package sync

import (
	"context"
	"fmt"
	gosync "sync"

	"github.com/flyt-platform/flyt/history"
)

// rollouts are the deploys that have applied their objects and wait for readiness outside the
// workers, one per key at the most.
type rollouts struct {
	// waiters are the goroutines waiting for readiness; Run waits for them before it returns.
	waiters gosync.WaitGroup

	// mu guards byKey; it is never held across I/O or while taking another lock (supersede
	// waits for a rollout's end outside it).
	mu    gosync.Mutex
	byKey map[Key]*inflight
}

// inflight is a deploy that has applied its objects and waits for readiness. A newer deploy
// of the same key supersedes it: cancels the wait (the deploy ends inactive) and waits for
// done before it applies anything.
type inflight struct {
	digest string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

func newRollouts() *rollouts { return &rollouts{byKey: map[Key]*inflight{}} }

// begin registers a rollout of k that applied digest; cancel cuts its wait off.
func (rs *rollouts) begin(k Key, digest string, cancel context.CancelCauseFunc) *inflight {
	fl := &inflight{digest: digest, cancel: cancel, done: make(chan struct{})}
	rs.mu.Lock()
	rs.byKey[k] = fl
	rs.mu.Unlock()
	return fl
}

// end frees k for its next deploy once fl has ended, whatever happened to it.
func (rs *rollouts) end(k Key, fl *inflight) {
	rs.mu.Lock()
	if rs.byKey[k] == fl {
		delete(rs.byKey, k)
	}
	rs.mu.Unlock()
	close(fl.done)
}

// supersede makes way for a new deploy of k: a rollout of k still waiting for readiness is
// cancelled (it ends inactive, superseded) and supersede returns once it has ended. When
// digest is not empty and the waiting rollout applied exactly that, it is left to finish and
// supersede reports true: there is nothing new to deploy.
func (c *Controller) supersede(k Key, digest string) bool {
	rs := c.rollouts
	rs.mu.Lock()
	fl := rs.byKey[k]
	rs.mu.Unlock()
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

// handOff passes ro, whose objects j's deploy applied, to a goroutine that waits for its
// readiness, so the worker goes on to other keys: the rollout is the cluster's work now. A
// panic before that goroutine runs ends ro's deploy as an error at step hand-off.
func (c *Controller) handOff(ctx context.Context, j *job, commit string, ro *Rollout) {
	k, r := j.key, j.r
	defer func() {
		if v := recover(); v != nil {
			rec, err := ro.finish(ctx, &deployError{history.StateError, "hand-off", caught(ctx, v, "hand-off", "")})
			c.finished(k, j.app.team, commit, rec, err)
		}
	}()
	if c.hook != nil {
		c.hook("hand-off", k.App)
	}
	wctx, cancel := context.WithCancelCause(ctx)
	fl := c.rollouts.begin(k, ro.Digest(), cancel)
	c.active.Add(1)
	c.rollouts.waiters.Go(func() {
		defer c.active.Add(-1)
		defer cancel(nil)
		// Whatever happened, the key is free for the next deploy (supersede waits for done).
		defer c.rollouts.end(k, fl)
		defer func() {
			// Wait catches its own panics and records them; this is for what follows it.
			if v := recover(); v != nil {
				_ = caught(ctx, v, "finish", "") // logged; the deploy is recorded already
			}
		}()
		rec, err := ro.Wait(wctx)
		c.finished(k, j.app.team, commit, rec, err)
		if err := retryable(err); err != nil {
			c.retry(k, r, err)
		}
	})
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
