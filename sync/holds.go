package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/flyt-platform/flyt/history"
)

// Held is automatic work that waits for a deploy window, an unfreeze or an unsuspend.
type Held struct {
	Key     Key       `json:"key"`
	Commit  string    `json:"commit"`
	Trigger string    `json:"trigger"`
	Reason  string    `json:"reason"`
	Until   time.Time `json:"until,omitzero"`
}

// holds is what keeps automatic work from deploying: the frozen environments and the work
// held for a window, an unfreeze, an unsuspend or an operator. Its requests stay in the
// controller's pending requests (a held key is queued again when its hold may have passed);
// holds only says which keys wait and why.
type holds struct {
	// record serialises recording freezes in the history store with loading them from it,
	// so a freeze recorded while Run loads the frozen set is not overwritten by the older
	// state. It is held across the store's I/O; mu is taken inside it, never the other way.
	record gosync.Mutex

	// mu guards frozen and held; it is never held across I/O or while taking another lock.
	mu gosync.Mutex
	// frozen is the store's freeze state, cached: environment → reason.
	frozen map[string]string
	held   map[Key]Held
}

func newHolds() *holds {
	return &holds{frozen: map[string]string{}, held: map[Key]Held{}}
}

// hold records that k waits, and why.
func (h *holds) hold(k Key, held Held) {
	held.Key = k
	h.mu.Lock()
	h.held[k] = held
	h.mu.Unlock()
}

// release forgets that k waits: it is queued or deploys now.
func (h *holds) release(k Key) {
	h.mu.Lock()
	delete(h.held, k)
	h.mu.Unlock()
}

// heldFor returns k's hold, when it has one.
func (h *holds) heldFor(k Key) (Held, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	held, ok := h.held[k]
	return held, ok
}

// isHeld reports whether k waits.
func (h *holds) isHeld(k Key) bool {
	_, ok := h.heldFor(k)
	return ok
}

// frozenReason says whether env is frozen, and why.
func (h *holds) frozenReason(env string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reason, ok := h.frozen[env]
	return reason, ok
}

// list returns the held work, sorted by key.
func (h *holds) list() []Held {
	h.mu.Lock()
	out := slices.Collect(maps.Values(h.held))
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b Held) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// Held lists the automatic work waiting for a window, an unfreeze or an operator.
func (c *Controller) Held() []Held { return c.holds.list() }

// Freeze holds automatic deploys to env until Unfreeze; by is who froze it, reason why. The
// freeze is recorded in the history store before it takes effect, so it outlives this process
// and holds on whichever replica leads next. When the store cannot record it, nothing changes
// and the error says so: a freeze that only seemed to hold is worse than a refused one.
func (c *Controller) Freeze(ctx context.Context, env, by, reason string) error {
	h := c.holds
	h.record.Lock()
	defer h.record.Unlock()
	if _, err := c.opts.Store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: true, Reason: reason, By: by, Time: c.opts.Now()}); err != nil {
		return fmt.Errorf("freeze %s: %w", env, err)
	}
	h.mu.Lock()
	h.frozen[env] = reason
	h.mu.Unlock()
	return nil
}

// Unfreeze lifts a freeze (by is who lifted it) and releases the work it held. Like Freeze,
// it is recorded in the history store first, and nothing changes when that fails.
func (c *Controller) Unfreeze(ctx context.Context, env, by string) error {
	h := c.holds
	h.record.Lock()
	defer h.record.Unlock()
	if _, err := c.opts.Store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: false, By: by, Time: c.opts.Now()}); err != nil {
		return fmt.Errorf("unfreeze %s: %w", env, err)
	}
	h.mu.Lock()
	delete(h.frozen, env)
	var release []Key
	for k := range h.held {
		if k.Environment == env {
			release = append(release, k)
		}
	}
	h.mu.Unlock()
	for _, k := range release {
		c.queue.Add(k)
	}
	return nil
}

// loadFreezes replaces the cached frozen set with the history store's freeze state, so a
// restarted flyt or a new leader holds what an operator froze under an earlier one.
func (c *Controller) loadFreezes(ctx context.Context) error {
	h := c.holds
	h.record.Lock()
	defer h.record.Unlock()
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
	h.mu.Lock()
	h.frozen = frozen
	h.mu.Unlock()
	return nil
}

// Frozen returns the frozen environments and why, as this controller holds them (the history
// store's Freezes is the state every replica shares).
func (c *Controller) Frozen() map[string]string {
	h := c.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.frozen)
}

// holdBack holds j's work when it is automatic and a window, freeze or suspension of its
// environment stands in the way: its request is put back, and the key comes back when the
// window opens (an unfreeze or unsuspend queues it again). People's requests (promotions and
// rollbacks were checked when asked; manual deploys are forced) are never held. Work that
// goes ahead is no longer held.
func (c *Controller) holdBack(j *job) bool {
	k, r := j.key, j.r
	if automatic(r.trigger) && !r.forced {
		reason, frozen := c.holds.frozenReason(k.Environment)
		if h := j.env.Hold(c.opts.Now(), frozen, reason); h != nil {
			c.holds.hold(k, Held{Commit: r.commit, Trigger: string(r.trigger), Reason: h.Error(), Until: h.Until})
			c.requeue(k, r, h.Until)
			j.log.Info("holding deploy", "reason", h.Error())
			return true
		}
	}
	c.holds.release(k)
	return false
}
