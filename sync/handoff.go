package sync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/flyt-platform/flyt/history"
)

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

// pendingRequests hands each key's newest request from whoever asks for work (a push, a
// promotion, a retry) to the worker that takes the key from the queue. The queue (fairQueue)
// orders the keys; this says what each key is to do.
type pendingRequests struct {
	// mu guards byKey; it is never held across I/O or while taking another lock.
	mu    gosync.Mutex
	byKey map[Key]*request
}

// put makes r k's request, replacing an older one, and returns how many keys have one.
func (p *pendingRequests) put(k Key, r *request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byKey[k] = r
	return len(p.byKey)
}

// putBack makes r k's request again unless a newer request arrived meanwhile, which wins.
// A nil r (the key had no request) puts nothing back.
func (p *pendingRequests) putBack(k Key, r *request) {
	if r == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, newer := p.byKey[k]; !newer {
		p.byKey[k] = r
	}
}

// take removes k's request and returns it (nil when k has none: a resync or a released
// hold), with how many keys still have one.
func (p *pendingRequests) take(k Key) (*request, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.byKey[k]
	delete(p.byKey, k)
	return r, len(p.byKey)
}

// count returns how many keys have a request, not counting those skip reports.
func (p *pendingRequests) count(skip func(Key) bool) int {
	p.mu.Lock()
	keys := make([]Key, 0, len(p.byKey))
	for k := range p.byKey {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	n := 0
	for _, k := range keys {
		if !skip(k) {
			n++
		}
	}
	return n
}

// enqueue makes r k's newest request and queues k; k is no longer held.
func (c *Controller) enqueue(k Key, r *request) {
	r.queued = c.opts.Now()
	depth := c.pending.put(k, r)
	c.holds.release(k)
	c.opts.Metrics.queue(depth, 0)
	c.queue.Add(k)
}

// requeue puts r back as k's request unless a newer one arrived meanwhile, and, when at is
// not zero, queues k again a second after at (when the window opens, or the soak ends).
// Every caller that sets work aside for later goes through it, so a newer request always
// wins over the one set aside.
func (c *Controller) requeue(k Key, r *request, at time.Time) {
	c.pending.putBack(k, r)
	if !at.IsZero() {
		c.queue.AddAfter(k, at.Sub(c.opts.Now())+time.Second)
	}
}

// retry queues k again with backoff, with its request unless a newer one arrived meanwhile.
func (c *Controller) retry(k Key, r *request, err error) {
	c.opts.Log.Error(err, "reconcile failed; retrying with backoff", "app", k.App, "environment", k.Environment)
	c.requeue(k, r, time.Time{})
	c.queue.AddRateLimited(k)
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
	c.handle(deploys, k)
	return true
}

// handle is one worker's handling of k: take its request, reconcile it, and forget or retry
// it. A panic anywhere in it (the queue's bookkeeping, deciding, the hand-off; render, apply
// and wait catch their own) is caught here: k's deploy is recorded as an error, once per
// commit, and the worker goes on with the next key.
func (c *Controller) handle(ctx context.Context, k Key) {
	c.active.Add(1)
	defer c.active.Add(-1)
	defer c.done(ctx, k)
	var r *request
	defer func() {
		if v := recover(); v != nil {
			log := c.opts.Log.WithValues("app", k.App, "environment", k.Environment)
			ctx := logr.NewContext(ctx, log)
			c.recordPanic(ctx, k, r, caught(ctx, v, "reconcile", ""))
		}
	}()
	r, depth := c.pending.take(k)
	var waited time.Duration
	if r != nil {
		waited = c.opts.Now().Sub(r.queued)
	}
	c.opts.Metrics.queue(depth, waited)
	if c.hook != nil {
		c.hook("queue", k.App)
	}

	err := c.reconcile(ctx, k, r)
	if err == nil {
		c.queue.Forget(k)
		return
	}
	c.retry(k, r, err)
}

// done tells the queue that k's handling has ended, so k may be taken again. A panic in it is
// logged, and the worker goes on.
func (c *Controller) done(ctx context.Context, k Key) {
	defer func() {
		if v := recover(); v != nil {
			log := c.opts.Log.WithValues("app", k.App, "environment", k.Environment)
			_ = caught(logr.NewContext(ctx, log), v, "queue", "") // logged; the key goes on
		}
	}()
	c.queue.Done(k)
}

// errRetry marks a reconcile error worth retrying with backoff (the platform failed).
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// retryable keeps errors worth a retry (the platform failed) and drops failures (the spec or
// workload is bad; a new revision is needed).
func retryable(err error) error {
	if err == nil || isPanic(err) {
		return nil
	}
	if StateOf(err) == history.StateError {
		return errRetry{err}
	}
	return nil
}
