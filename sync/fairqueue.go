package sync

import (
	gosync "sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// fairQueue is the work queue in front of the workers, fair across teams. Keys wait in one
// FIFO per team; Get hands out the teams' keys round-robin, and never more than perTeam keys
// of one team at once. Without it one team's keys can hold every worker: twenty apps of a team
// whose Git server takes a minute to answer each wait a minute for its repository's lock in
// the cache, and the other teams' pushes wait behind them.
//
// It keeps the guarantees of client-go's workqueue that the controller relies on: a key is
// handed to one worker at a time (added again while it is being reconciled, it is queued once
// more after Done); a key added many times before a worker takes it is handed out once; and
// AddRateLimited/Forget back off per key with the same rate limiter.
type fairQueue struct {
	limiter workqueue.TypedRateLimiter[Key]
	perTeam int
	// teamOf names the team a key's work is counted against; "" for a key of no known app.
	// Called without mu held.
	teamOf func(Key) string

	// Guards the fields below.
	mu   gosync.Mutex
	cond *gosync.Cond
	// dirty holds every key that is queued, or is to be queued again when its reconcile ends.
	dirty map[Key]bool
	// processing maps a key handed to a worker to the team it was counted against.
	processing map[Key]string
	teams      map[string]*teamQueue
	// ring lists the teams with queued keys, in the order Get serves them; next is where
	// Get's search starts.
	ring     []string
	next     int
	queued   int
	delayed  map[Key]*delayedKey
	shutdown bool
}

// teamQueue is one team's waiting keys and how many of its keys workers hold.
type teamQueue struct {
	keys    []Key
	running int
}

// delayedKey is a pending AddAfter of a key; only the earliest is kept, as workqueue does.
type delayedKey struct {
	at    time.Time
	timer *time.Timer
}

func newFairQueue(limiter workqueue.TypedRateLimiter[Key], perTeam int, teamOf func(Key) string) *fairQueue {
	q := &fairQueue{
		limiter:    limiter,
		perTeam:    max(1, perTeam),
		teamOf:     teamOf,
		dirty:      map[Key]bool{},
		processing: map[Key]string{},
		teams:      map[string]*teamQueue{},
		delayed:    map[Key]*delayedKey{},
	}
	q.cond = gosync.NewCond(&q.mu)
	return q
}

// Add queues k, unless it is queued already (then this Add is coalesced into that one).
func (q *fairQueue) Add(k Key) {
	team := q.teamOf(k)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.dirty[k] {
		return
	}
	q.dirty[k] = true
	if _, running := q.processing[k]; running {
		return // queued again by Done
	}
	q.push(team, k)
}

// push appends k to team's FIFO. Callers hold mu.
func (q *fairQueue) push(team string, k Key) {
	tq := q.teams[team]
	if tq == nil {
		tq = &teamQueue{}
		q.teams[team] = tq
	}
	if len(tq.keys) == 0 {
		q.ring = append(q.ring, team)
	}
	tq.keys = append(tq.keys, k)
	q.queued++
	q.cond.Signal()
}

// Get blocks until a key of a team below its share of workers is queued, and hands it out;
// shutdown is true once the queue is shut down (keys still queued are dropped).
func (q *fairQueue) Get() (k Key, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.shutdown {
			return Key{}, true
		}
		for i := range q.ring {
			at := (q.next + i) % len(q.ring)
			team := q.ring[at]
			tq := q.teams[team]
			if tq.running >= q.perTeam {
				continue
			}
			k, tq.keys = tq.keys[0], tq.keys[1:]
			tq.running++
			q.queued--
			q.next = at + 1
			if len(tq.keys) == 0 {
				q.ring = append(q.ring[:at], q.ring[at+1:]...)
				q.next = at
			}
			if q.next >= len(q.ring) {
				q.next = 0
			}
			delete(q.dirty, k)
			q.processing[k] = team
			return k, false
		}
		q.cond.Wait()
	}
}

// Done ends the reconcile of k: its worker is free for any team's key, and k is queued again
// if it was added meanwhile.
func (q *fairQueue) Done(k Key) {
	q.mu.Lock()
	team, ok := q.processing[k]
	if ok {
		delete(q.processing, k)
		tq := q.teams[team]
		tq.running--
		if tq.running == 0 && len(tq.keys) == 0 {
			delete(q.teams, team)
		}
		// A worker is free, or a team is below its share again: either may unblock a Get.
		q.cond.Broadcast()
	}
	requeue := ok && q.dirty[k] && !q.shutdown
	q.mu.Unlock()
	if requeue {
		team := q.teamOf(k)
		q.mu.Lock()
		if _, running := q.processing[k]; !running && q.dirty[k] && !q.shutdown {
			q.push(team, k)
		}
		q.mu.Unlock()
	}
}

// AddAfter adds k once d has passed. Of several delayed adds of one key the earliest holds.
func (q *fairQueue) AddAfter(k Key, d time.Duration) {
	if d <= 0 {
		q.Add(k)
		return
	}
	at := time.Now().Add(d)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if dk := q.delayed[k]; dk != nil {
		if !at.Before(dk.at) {
			return
		}
		dk.timer.Stop()
	}
	dk := &delayedKey{at: at}
	dk.timer = time.AfterFunc(d, func() {
		q.mu.Lock()
		if q.delayed[k] == dk {
			delete(q.delayed, k)
		}
		q.mu.Unlock()
		q.Add(k)
	})
	q.delayed[k] = dk
}

// AddRateLimited adds k after the rate limiter's backoff for it.
func (q *fairQueue) AddRateLimited(k Key) { q.AddAfter(k, q.limiter.When(k)) }

// Forget resets k's backoff.
func (q *fairQueue) Forget(k Key) { q.limiter.Forget(k) }

// Len is how many keys are queued (not those waiting for a delay, nor those being reconciled).
func (q *fairQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued
}

// ShutDown makes every Get return shutdown and drops the queued and delayed keys; keys being
// reconciled finish, and their Done requeues nothing.
func (q *fairQueue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for _, dk := range q.delayed {
		dk.timer.Stop()
	}
	q.delayed = map[Key]*delayedKey{}
	q.cond.Broadcast()
}
